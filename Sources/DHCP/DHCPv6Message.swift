import Addressing

/// DHCPv6 message types (RFC 8415 7.3).
public enum DHCPv6MessageType: UInt8, Sendable {
    case solicit = 1
    case advertise, request, confirm, renew, rebind, reply, release, decline, reconfigure, informationRequest
}

/// DHCPv6 option codes this client reads or writes (RFC 8415 21, RFC 3646).
public enum DHCPv6OptionCode {
    public static let clientIdentifier: UInt16 = 1
    public static let serverIdentifier: UInt16 = 2
    public static let identityAssociationNA: UInt16 = 3
    public static let iaAddress: UInt16 = 5
    public static let optionRequest: UInt16 = 6
    public static let elapsedTime: UInt16 = 8
    public static let statusCode: UInt16 = 13
    public static let rapidCommit: UInt16 = 14
    public static let dnsServers: UInt16 = 23
    public static let domainList: UInt16 = 24
}

/// Status codes (RFC 8415 21.13).
public enum DHCPv6Status {
    public static let success: UInt16 = 0
    public static let unspecifiedFailure: UInt16 = 1
    public static let noAddressesAvailable: UInt16 = 2
    public static let noBinding: UInt16 = 3
    public static let notOnLink: UInt16 = 4
    public static let useMulticast: UInt16 = 5
}

/// A DHCPv6 client/server message (RFC 8415 8): type, 24-bit transaction id and options,
/// in order (an option may repeat: one IA Address per address, one IA_NA per association).
public struct DHCPv6Message: Sendable, Equatable {
    /// Why bytes are not a DHCPv6 message this client can use.
    public struct DecodingError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public var type: DHCPv6MessageType
    /// 24 bits.
    public var transactionID: UInt32
    public var options: [DHCPv6Option]

    public init(type: DHCPv6MessageType, transactionID: UInt32, options: [DHCPv6Option] = []) {
        self.type = type
        self.transactionID = transactionID & 0x00FF_FFFF
        self.options = options
    }

    /// The first option with this code.
    public func option(_ code: UInt16) -> [UInt8]? { options.first { $0.code == code }?.data }

    public var encoded: [UInt8] {
        var bytes: [UInt8] = [
            type.rawValue, UInt8(truncatingIfNeeded: transactionID >> 16),
            UInt8(truncatingIfNeeded: transactionID >> 8),
            UInt8(truncatingIfNeeded: transactionID),
        ]
        for option in options { bytes += option.encoded }
        return bytes
    }

    /// Parses a message; relay messages (12, 13) and unknown types are refused, as is an option
    /// whose length runs past the end.
    public init(decoding bytes: some Collection<UInt8>) throws(DHCPv6Message.DecodingError) {
        let bytes = Array(bytes)
        guard bytes.count >= 4 else {
            throw DHCPv6Message.DecodingError(description: "\(bytes.count) bytes: shorter than a header")
        }
        guard let type = DHCPv6MessageType(rawValue: bytes[0]) else {
            throw DHCPv6Message.DecodingError(description: "message type \(bytes[0]) is not one a client reads")
        }
        self.type = type
        transactionID = UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
        options = try DHCPv6Option.decodeList(bytes[4...])
    }
}

/// One option: a 16-bit code and its data (RFC 8415 21.1).
public struct DHCPv6Option: Sendable, Equatable {
    public var code: UInt16
    public var data: [UInt8]

    public init(_ code: UInt16, _ data: [UInt8]) {
        self.code = code
        self.data = data
    }

    public var encoded: [UInt8] {
        let length = UInt16(truncatingIfNeeded: data.count)
        return [UInt8(code >> 8), UInt8(code & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF)] + data
    }

    /// Options back to back, as in a message or inside IA_NA and IA Address.
    static func decodeList(_ bytes: ArraySlice<UInt8>) throws(DHCPv6Message.DecodingError) -> [DHCPv6Option] {
        var options: [DHCPv6Option] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard bytes.endIndex - index >= 4 else {
                throw DHCPv6Message.DecodingError(
                    description: "an option header is cut at byte \(index - bytes.startIndex)")
            }
            let code = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            guard bytes.endIndex - index - 4 >= length else {
                throw DHCPv6Message.DecodingError(description: "option \(code) claims \(length) bytes, past the end")
            }
            options.append(DHCPv6Option(code, Array(bytes[(index + 4)..<(index + 4 + length)])))
            index += 4 + length
        }
        return options
    }

    static func uint32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func bytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// An address of an IA_NA (RFC 8415 21.6): preferred and valid lifetimes in seconds
/// (0xFFFFFFFF: infinity).
public struct DHCPv6Address: Sendable, Equatable {
    public var address: IPAddress
    public var preferredLifetime: UInt32
    public var validLifetime: UInt32

    public init(address: IPAddress, preferredLifetime: UInt32, validLifetime: UInt32) {
        self.address = address
        self.preferredLifetime = preferredLifetime
        self.validLifetime = validLifetime
    }
}

/// An identity association for non-temporary addresses (RFC 8415 21.4) as a server returns it.
public struct DHCPv6IdentityAssociation: Sendable, Equatable {
    public var iaid: UInt32
    public var t1: UInt32
    public var t2: UInt32
    public var addresses: [DHCPv6Address]
    /// The IA's own status (absent: success).
    public var status: UInt16

    public init(iaid: UInt32, t1: UInt32, t2: UInt32, addresses: [DHCPv6Address], status: UInt16 = 0) {
        self.iaid = iaid
        self.t1 = t1
        self.t2 = t2
        self.addresses = addresses
        self.status = status
    }

    /// The IA_NA option: IAID, T1, T2 and, for a renewal or release, the addresses held.
    public var option: DHCPv6Option {
        var data = DHCPv6Option.bytes(iaid) + DHCPv6Option.bytes(t1) + DHCPv6Option.bytes(t2)
        for address in addresses {
            data +=
                DHCPv6Option(
                    DHCPv6OptionCode.iaAddress,
                    address.address.bytes + DHCPv6Option.bytes(address.preferredLifetime)
                        + DHCPv6Option.bytes(address.validLifetime)
                ).encoded
        }
        return DHCPv6Option(DHCPv6OptionCode.identityAssociationNA, data)
    }

    /// Reads an IA_NA option's data. Addresses whose own status is a failure, or whose
    /// preferred lifetime exceeds the valid one (RFC 8415 21.6: discard), are left out.
    public init(decoding data: [UInt8]) throws(DHCPv6Message.DecodingError) {
        guard data.count >= 12 else { throw DHCPv6Message.DecodingError(description: "IA_NA of \(data.count) bytes") }
        iaid = DHCPv6Option.uint32(data[0..<4])
        t1 = DHCPv6Option.uint32(data[4..<8])
        t2 = DHCPv6Option.uint32(data[8..<12])
        addresses = []
        status = DHCPv6Status.success
        for option in try DHCPv6Option.decodeList(data[12...]) {
            switch option.code {
            case DHCPv6OptionCode.iaAddress:
                guard option.data.count >= 24, let address = IPAddress(bytes: option.data[0..<16]) else {
                    throw DHCPv6Message.DecodingError(description: "IA Address of \(option.data.count) bytes")
                }
                let preferred = DHCPv6Option.uint32(option.data[16..<20])
                let valid = DHCPv6Option.uint32(option.data[20..<24])
                let inner = try DHCPv6Option.decodeList(option.data[24...])
                let innerStatus = inner.first { $0.code == DHCPv6OptionCode.statusCode }.map {
                    DHCPv6Message.status($0.data)
                }
                guard preferred <= valid, innerStatus ?? DHCPv6Status.success == DHCPv6Status.success else { continue }
                addresses.append(DHCPv6Address(address: address, preferredLifetime: preferred, validLifetime: valid))
            case DHCPv6OptionCode.statusCode:
                status = DHCPv6Message.status(option.data)
            default:
                continue
            }
        }
    }
}

extension DHCPv6Message {
    /// The code of a Status Code option's data (a missing code reads as UnspecFail).
    static func status(_ data: [UInt8]) -> UInt16 {
        data.count >= 2 ? UInt16(data[0]) << 8 | UInt16(data[1]) : DHCPv6Status.unspecifiedFailure
    }

    /// The message's own status (absent: success) and its text.
    public var status: (code: UInt16, message: String) {
        guard let data = option(DHCPv6OptionCode.statusCode) else { return (DHCPv6Status.success, "") }
        return (Self.status(data), String(decoding: data.dropFirst(2), as: UTF8.self))
    }

    /// DNS servers (option 23): whole 16-byte addresses only.
    public var dnsServers: [IPAddress] {
        guard let data = option(DHCPv6OptionCode.dnsServers) else { return [] }
        return stride(from: 0, to: data.count - data.count % 16, by: 16).compactMap {
            IPAddress(bytes: data[$0..<($0 + 16)])
        }
    }

    /// The domain search list (option 24): RFC 1035 names, uncompressed; a malformed name
    /// ends the list.
    public var domainList: [String] {
        guard let data = option(DHCPv6OptionCode.domainList) else { return [] }
        var names: [String] = []
        var labels: [String] = []
        var index = 0
        while index < data.count {
            let length = Int(data[index])
            index += 1
            if length == 0 {
                if !labels.isEmpty { names.append(labels.joined(separator: ".")) }
                labels = []
                continue
            }
            guard length <= 63, index + length <= data.count else { break }
            labels.append(String(decoding: data[index..<(index + length)], as: UTF8.self))
            index += length
        }
        return names
    }
}
