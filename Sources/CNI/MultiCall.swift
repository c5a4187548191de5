/// The names the release's multi-call binary answers to: the plugins it installs as.
public enum MultiCall {
    public static let names = ["macvlan", "ipvlan", "vlan", "bridge", "host-local", "static", "dhcp", "loopback"]
}
