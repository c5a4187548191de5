import CNI
import JSON
import Testing

@Suite struct ResultConversionTests {
    /// A 1.1.0 result using every field (shaped like libcni's pkg/types/100 test vector).
    static let full = #"""
        {"cniVersion":"1.1.0",
         "interfaces":[{"name":"eth0","mac":"00:11:22:33:44:55","mtu":1500,"sandbox":"/proc/3553/ns/net","socketPath":"/path/to/vhost/fd","pciID":"0000:00:1f.6"}],
         "ips":[{"interface":0,"address":"1.2.3.30/24","gateway":"1.2.3.1"},
                {"interface":0,"address":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1"}],
         "routes":[{"dst":"0.0.0.0/0","gw":"1.2.3.1","mtu":1500,"advmss":1340,"priority":100,"table":50,"scope":253},
                   {"dst":"::/0","gw":"abcd:1234:ffff::1"}],
         "dns":{"nameservers":["1.2.3.4","1::cafe"],"domain":"acompany.com","search":["somedomain.com","otherdomain.net"],"options":["foo","bar"]}}
        """#

    func result() throws -> CNIResult {
        try CNIResult(json: try JSONValue.parse(Self.full), defaultVersion: "1.1.0")
    }

    @Test func roundTripsAt110And100() throws {
        let original = try JSONValue.parse(Self.full)
        #expect(try result().json(as: "1.1.0") == original)
        let at100 = try result().json(as: "1.0.0")
        let back = try CNIResult(json: at100, defaultVersion: "1.0.0").json(as: "1.1.0")
        #expect(back == original)
    }

    @Test func convertsDownTo040() throws {
        let expected = try JSONValue.parse(
            #"""
            {"cniVersion":"0.4.0",
             "interfaces":[{"name":"eth0","mac":"00:11:22:33:44:55","sandbox":"/proc/3553/ns/net"}],
             "ips":[{"version":"4","interface":0,"address":"1.2.3.30/24","gateway":"1.2.3.1"},
                    {"version":"6","interface":0,"address":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1"}],
             "routes":[{"dst":"0.0.0.0/0","gw":"1.2.3.1"},{"dst":"::/0","gw":"abcd:1234:ffff::1"}],
             "dns":{"nameservers":["1.2.3.4","1::cafe"],"domain":"acompany.com","search":["somedomain.com","otherdomain.net"],"options":["foo","bar"]}}
            """#)
        #expect(try result().json(as: "0.4.0") == expected)
    }

    @Test func convertsDownTo010SplittingRoutesByFamily() throws {
        let expected = try JSONValue.parse(
            #"""
            {"cniVersion":"0.1.0",
             "ip4":{"ip":"1.2.3.30/24","gateway":"1.2.3.1","routes":[{"dst":"0.0.0.0/0","gw":"1.2.3.1"}]},
             "ip6":{"ip":"abcd:1234:ffff::cdde/64","gateway":"abcd:1234:ffff::1","routes":[{"dst":"::/0","gw":"abcd:1234:ffff::1"}]},
             "dns":{"nameservers":["1.2.3.4","1::cafe"],"domain":"acompany.com","search":["somedomain.com","otherdomain.net"],"options":["foo","bar"]}}
            """#)
        #expect(try result().json(as: "0.1.0") == expected)
    }

    /// libcni keeps the first address of each family and drops the others silently; a result
    /// that would lose one fails instead.
    @Test func legacyRefusesToDropAnAddress() throws {
        var many = try result()
        many.ips.append(CNIResult.IPConfig(address: try #require(.init("1.2.3.31/24"))))
        #expect(
            throws: ResultConversionError(
                description:
                    "cannot convert to 0.2.0: it holds one IPv4 address, the result has 2 (1.2.3.30/24, 1.2.3.31/24); use cniVersion 0.3.0 or later"
            )
        ) { try many.json(as: "0.2.0") }
        #expect(try many.json(as: "0.3.0")["ips"]?.arrayValue?.count == many.ips.count)
    }

    @Test func noAddressCannotGoBelow030() throws {
        let l2only = CNIResult(cniVersion: "1.1.0", interfaces: [.init(name: "eth0")])
        #expect(throws: ResultConversionError(description: "cannot convert: no valid IP addresses")) {
            try l2only.json(as: "0.2.0")
        }
        #expect(try l2only.json(as: "0.3.1")["interfaces"] != nil)
    }

    @Test func readsLegacyResultsUpward() throws {
        let legacy = try JSONValue.parse(
            #"{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.5/8","gateway":"10.0.0.1","routes":[{"dst":"0.0.0.0/0"}]},"dns":{}}"#
        )
        let parsed = try CNIResult(json: legacy, defaultVersion: "0.2.0")
        let upward = try parsed.json(as: "0.3.1")
        #expect(
            upward
                == (try JSONValue.parse(
                    #"{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.5/8","gateway":"10.0.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#
                )))
    }

    @Test func missingVersionTakesTheConfigs() throws {
        let parsed = try CNIResult(
            json: try JSONValue.parse(#"{"ips":[{"address":"10.0.0.5/8"}]}"#), defaultVersion: "1.0.0")
        #expect(parsed.cniVersion == "1.0.0")
        #expect(parsed.ips.count == 1)
    }

    @Test func refusesUnknownVersions() throws {
        #expect(throws: ResultConversionError.self) {
            try CNIResult(json: try JSONValue.parse(#"{"cniVersion":"1.2.0"}"#), defaultVersion: "1.1.0")
        }
        #expect(throws: ResultConversionError.self) { try self.result().json(as: "2.0.0") }
    }

    @Test func tableAndScopeZeroAreKeptButZeroMTUIsNot() throws {
        let value = try JSONValue.parse(
            #"{"cniVersion":"1.1.0","routes":[{"dst":"10.0.0.0/8","table":0,"scope":0,"mtu":0}]}"#)
        let route = try CNIResult(json: value, defaultVersion: "1.1.0").json(as: "1.1.0")["routes"]?.arrayValue?.first
        #expect(route == ["dst": "10.0.0.0/8", "table": 0, "scope": 0])
    }
}
