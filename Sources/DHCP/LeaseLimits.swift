/// What a lease of either family is held to, whatever a server (a rogue or broken one) sends;
/// each family's own rules (RFC 2131's default T1/T2, RFC 8415's lifetimes) build on these.
public enum LeaseLimits {
    /// The shortest lifetime taken (DHCPv4's lease time, DHCPv6's valid lifetime): a lease of
    /// 0 or a few seconds would make the client renew hundreds of times a second and drop the
    /// address each time.
    public static let shortestLifetime: UInt32 = 60
}
