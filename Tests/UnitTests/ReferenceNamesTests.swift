import POSIX
import Testing

@testable import Firewall

/// The reference plugins' firewall names, computed the way they compute them: the vectors
/// come from FIPS 180-4 and from the reference bridge plugin (v1.1.1) run on this machine.
@Suite struct ReferenceNamesTests {
    @Test func sha512Vectors() {
        #expect(
            SHA512.hex("abc")
                == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        )
        #expect(
            SHA512.hex("")
                == "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        )
        #expect(
            SHA512.hex(
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            )
                == "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        )
    }

    @Test func iptablesNamesAsTheReferenceBridgeMakesThem() {
        let attachment = FirewallAttachment(network: "refnet", containerID: "ctr-1", ifName: "eth0")
        #expect(attachment.iptablesChain == "CNI-56a3709b91a3ce9e72b1c2d2")
        #expect(attachment.iptablesComment == #"name: "refnet" id: "ctr-1""#)
        #expect(ReferenceNames.goQuoted("a\"b\\c\nd\u{1}é") == #""a\"b\\c\nd\x01é""#)
    }

    @Test func nftablesCommentShape() {
        let attachment = FirewallAttachment(network: "refnet", containerID: "ctr-1", ifName: "eth0")
        #expect(attachment.nftablesHash == SHA512.hex("refnet").prefix(16) + "-" + SHA512.hex("eth0:ctr-1").prefix(16))
        #expect(attachment.nftablesComment == attachment.nftablesHash + ", net: refnet, if: eth0, id: ctr-1")
        let long = FirewallAttachment(network: "n\"et", containerID: String(repeating: "c", count: 200), ifName: "eth0")
        #expect(long.nftablesComment.utf8.count == 128)
        #expect(long.nftablesComment.contains(", net: net, if: eth0, id: ccc"))
        #expect(attachment.spoofInterfaceChain == "cni-br-iface-ctr-1-eth0")
        #expect(attachment.spoofComment == "macspoofchk-ctr-1-eth0")
    }
}
