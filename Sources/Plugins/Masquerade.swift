import Addressing
import CNI
import Firewall

/// The masquerade steps bridge and ptp share, in the reference's formats (see
/// `FirewallBackend`): one attachment's rules made, removed in every installed backend, the
/// network's stale ones collected, the backend's state for STATUS.
extension MasqueradeHost {
    func attachment(_ request: CNIRequest) -> FirewallAttachment {
        FirewallAttachment(
            network: request.config.name, containerID: request.environment.containerID,
            ifName: request.environment.ifName)
    }

    /// Masquerades `addresses` (an ADD step, undone by `rollback` when a later one fails).
    func addMasquerade(
        _ request: CNIRequest, addresses: [IPPrefix], backend: MasqueradeBackend?, rollback: inout Rollback
    ) throws {
        let attachment = attachment(request)
        let firewall = masqueradeFirewall(backend)
        try firewall.addMasquerade(attachment, addresses: addresses)
        rollback.add("remove the masquerade rules") { try firewall.removeMasquerade(attachment) }
        try checkpoint("masquerade")
    }

    /// Removes the attachment's masquerade in every installed backend (no address needed).
    func removeMasquerade(_ request: CNIRequest) throws {
        let attachment = attachment(request)
        for firewall in installedMasqueradeFirewalls() { try firewall.removeMasquerade(attachment) }
    }

    /// GC: the masquerade objects of the network's attachments that are not valid.
    func collectMasqueradeGarbage(_ request: CNIRequest) throws {
        let valid = Set(
            try request.config.validAttachments().map {
                FirewallAttachment(network: request.config.name, containerID: $0.containerID, ifName: $0.ifName)
            })
        for firewall in installedMasqueradeFirewalls() {
            try firewall.collectGarbage(network: request.config.name, valid: valid)
        }
    }

    /// STATUS: code 50 when a firewall the config needs cannot be used.
    func requireUsable(_ firewalls: [(name: String, unusableReason: String?)]) throws {
        for (name, unusableReason) in firewalls {
            if let reason = unusableReason {
                throw CNIError(
                    code: .pluginNotAvailable, msg: "the \(name) firewall backend is not usable", details: reason)
            }
        }
    }
}
