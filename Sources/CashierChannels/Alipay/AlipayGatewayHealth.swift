/// Which of Alipay's gateways a call goes to first: a pure state machine (no I/O; time passed in).
///
/// The rule follows what payment SDKs do with a primary and a backup domain: a gateway is marked bad
/// after more than `failuresToMarkBad - 1` consecutive failures that prove the request never left
/// (connection refused, name not resolved, connect timeout); while the primary is bad, calls go to the
/// backup first; `returnAfterMs` after it was marked bad the primary is used again (its count starts
/// over). A success on a gateway clears its count and its mark. Without a backup, everything goes to
/// the primary. Failures after which the request may have arrived never count here: they say nothing
/// about reachability, and the caller must not send a payment again after one anyway.
public struct AlipayGatewayHealth: Sendable, Equatable {
    public enum Gateway: String, Sendable, Equatable, CaseIterable {
        case primary, backup
    }

    /// A gateway is marked bad at this many consecutive connect failures ("more than 2").
    public static let failuresToMarkBad = 3
    /// A bad gateway is tried first again this long after it was marked bad (3 minutes).
    public static let returnAfterMs: Int64 = 180_000

    public let hasBackup: Bool
    public private(set) var primaryFailures = 0
    public private(set) var backupFailures = 0
    /// When the primary was marked bad; nil while it is good.
    public private(set) var primaryBadSince: Int64?
    public private(set) var backupBadSince: Int64?

    public init(hasBackup: Bool) {
        self.hasBackup = hasBackup
    }

    /// The gateways in the order a call tries them (the preferred one first; the other only if a
    /// backup exists). Expires marks older than `returnAfterMs`.
    public mutating func order(now: Int64) -> [Gateway] {
        expire(now: now)
        guard hasBackup else { return [.primary] }
        if primaryBadSince != nil && backupBadSince == nil { return [.backup, .primary] }
        return [.primary, .backup]
    }

    /// The request did not leave: the connection was refused, the name did not resolve, or connecting timed out.
    public mutating func connectFailed(_ gateway: Gateway, now: Int64) {
        switch gateway {
        case .primary:
            primaryFailures += 1
            if primaryFailures >= Self.failuresToMarkBad, primaryBadSince == nil { primaryBadSince = now }
        case .backup:
            backupFailures += 1
            if backupFailures >= Self.failuresToMarkBad, backupBadSince == nil { backupBadSince = now }
        }
    }

    /// The gateway answered (anything at all over HTTP): it is reachable.
    public mutating func answered(_ gateway: Gateway) {
        switch gateway {
        case .primary: primaryFailures = 0; primaryBadSince = nil
        case .backup: backupFailures = 0; backupBadSince = nil
        }
    }

    public func isBad(_ gateway: Gateway) -> Bool {
        gateway == .primary ? primaryBadSince != nil : backupBadSince != nil
    }

    private mutating func expire(now: Int64) {
        if let since = primaryBadSince, now - since >= Self.returnAfterMs { primaryBadSince = nil; primaryFailures = 0 }
        if let since = backupBadSince, now - since >= Self.returnAfterMs { backupBadSince = nil; backupFailures = 0 }
    }
}
