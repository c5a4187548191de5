import Addressing
import Testing

@Suite struct AddressingTests {
    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"), ("::", "::"), ("::1", "::1"), ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("fe80:0:0:0:0:0:0:0", "fe80::"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"), ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
    ])
    func parsesAndFormatsAddresses(_ input: String, _ expected: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.description == expected)
        #expect(IPAddress(address.description) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", ":::", "1::2::3",
        "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1.2.3.4/24", " 1.2.3.4",
    ])
    func rejectsMalformedAddresses(_ input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func bytesRoundTrip() throws {
        let v6 = try #require(IPAddress("2001:db8::ff00:42:8329"))
        #expect(IPAddress(bytes: v6.bytes) == v6)
        #expect(try #require(IPAddress("192.168.1.2")).bytes == [192, 168, 1, 2])
    }

    @Test func prefixArithmetic() throws {
        let prefix = try #require(IPPrefix("10.1.2.3/24"))
        #expect(prefix.network.description == "10.1.2.0")
        #expect(prefix.lastAddress.description == "10.1.2.255")
        #expect(prefix.hasHostBits)
        #expect(prefix.subnet.description == "10.1.2.0/24")
        #expect(prefix.contains(try #require(IPAddress("10.1.2.200"))))
        #expect(!prefix.contains(try #require(IPAddress("10.1.3.1"))))
        let v6 = try #require(IPPrefix("fd00:1::5/64"))
        #expect(v6.network.description == "fd00:1::")
        #expect(v6.lastAddress.description == "fd00:1::ffff:ffff:ffff:ffff")
        #expect(IPPrefix("10.0.0.0/33") == nil)
        #expect(IPPrefix("10.0.0.0/") == nil)
        #expect(try #require(IPPrefix("10.0.0.0/8")).overlaps(try #require(IPPrefix("10.5.0.0/16"))))
        #expect(try #require(IPAddress("10.0.0.255")).advanced(by: 1)?.description == "10.0.1.0")
        #expect(try #require(IPAddress("::ffff:ffff:ffff:ffff")).advanced(by: 1)?.description == "0:0:0:1::")
        #expect(try #require(IPAddress("255.255.255.255")).advanced(by: 1) == nil)
    }

    @Test func macAddresses() throws {
        let mac = try #require(MACAddress("0A:1b:2c:3d:4e:5f"))
        #expect(mac.description == "0a:1b:2c:3d:4e:5f")
        #expect(MACAddress("0a-1b-2c-3d-4e-5f") == mac)
        #expect(MACAddress("0a:1b:2c:3d:4e") == nil)
        #expect(MACAddress("0a:1b:2c:3d:4e:5g") == nil)
        #expect(try #require(MACAddress("01:00:5e:00:00:01")).isMulticast)
    }
}

/// The one-pass IPv4 parser against a plain reading of the rule (four dot-separated parts of
/// one to three ASCII digits, no leading zero, at most 255), over random and edge inputs.
@Suite struct IPv4ParserEquivalenceTests {
    static func oracle(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            let bytes = Array(part.utf8)
            guard (1...3).contains(bytes.count), bytes.allSatisfy({ (0x30...0x39).contains($0) }),
                !(bytes.count > 1 && bytes[0] == 0x30)
            else { return nil }
            let octet = bytes.reduce(UInt32(0)) { $0 * 10 + UInt32($1 - 0x30) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    @Test func agreesWithTheRule() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789..1255٣x ".unicodeScalars).map(String.init)
        var inputs = [
            "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.", ".1.1.1.1", "1..1.1",
            "1.1.1.1 ",
            "1.1.1.00", "1.1.1.0", "999.1.1.1", "1.1.1.1234", "1.2.3.4", "", "1.2.3.٣",
        ]
        for _ in 0..<20000 {
            inputs.append(
                (0..<Int.random(in: 1...16, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                    .joined())
        }
        for text in inputs {
            #expect(IPAddress(text)?.v4Value == Self.oracle(text), "\(text)")
        }
    }
}
