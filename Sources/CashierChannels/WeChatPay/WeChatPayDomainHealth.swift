/// WeChat Pay's two access points: the nearest (`api.mch.weixin.qq.com`) and one in another city
/// (`api2.mch.weixin.qq.com`).
public enum WeChatPayDomain: String, Sendable, Equatable, CaseIterable {
    case primary
    case backup

    public var other: WeChatPayDomain { self == .primary ? .backup : .primary }
}

/// What one attempt at one domain came to, as far as the domain's health is concerned.
public enum WeChatPayAttemptOutcome: Sendable, Equatable {
    /// An HTTP answer came back (whatever it said): the domain is reachable.
    case answered
    /// The domain could not be reached: the name did not resolve, the connection was refused, or
    /// connecting timed out. Only these count against a domain.
    case unreachable
    /// Anything else (a timeout after connecting, a reset while waiting): says nothing about the domain.
    case failedOtherwise
}

/// Which domain to call, kept from what calls met. Pure: no I/O, time passed in; the channel keeps one
/// behind a lock, asks it before each call and tells it every attempt's outcome.
///
/// Modelled on the rule of WeChat Pay's official SDK: the primary is used while it is good; once it has
/// been unreachable more than `failuresTolerated` times in a row it is marked bad and the backup is used;
/// `retryPrimaryAfterMs` (3 minutes) after being marked bad the primary is used again. Where we differ
/// (docs/CHANNELS.md): an answer from a domain clears its count at once, and a primary back from being
/// bad is on probation — its first unreachable attempt marks it bad again, so a primary that is still
/// down costs one failed connect per 3 minutes, not three.
public struct WeChatPayDomainHealth: Sendable, Equatable {
    public var failuresTolerated: Int
    public var retryPrimaryAfterMs: Int64
    /// Unreachable attempts in a row, per domain.
    public private(set) var primaryFailures = 0
    public private(set) var backupFailures = 0
    /// When the primary was marked bad; nil while it is good.
    public private(set) var primaryBadSince: Int64?
    /// The primary has just been taken back after being bad.
    public private(set) var primaryOnProbation = false

    public init(failuresTolerated: Int = 2, retryPrimaryAfterMs: Int64 = 180_000) {
        precondition(failuresTolerated >= 0 && retryPrimaryAfterMs >= 0)
        self.failuresTolerated = failuresTolerated
        self.retryPrimaryAfterMs = retryPrimaryAfterMs
    }

    public var isPrimaryBad: Bool { primaryBadSince != nil }

    /// The domain a new call starts at.
    public mutating func domainForCall(now: Int64) -> WeChatPayDomain {
        guard let since = primaryBadSince else { return .primary }
        if now - since >= retryPrimaryAfterMs {
            // Time to try the nearest access point again.
            primaryBadSince = nil
            primaryFailures = 0
            primaryOnProbation = true
            return .primary
        }
        // Both failing: the nearest one is as good a first try as any.
        if backupFailures > failuresTolerated && backupFailures >= primaryFailures { return .primary }
        return .backup
    }

    /// Takes in what an attempt at `domain` came to.
    public mutating func record(_ outcome: WeChatPayAttemptOutcome, at domain: WeChatPayDomain, now: Int64) {
        switch (outcome, domain) {
        case (.answered, .primary):
            primaryFailures = 0
            primaryOnProbation = false
            primaryBadSince = nil
        case (.answered, .backup):
            backupFailures = 0
        case (.unreachable, .primary):
            primaryFailures += 1
            if primaryBadSince == nil && (primaryOnProbation || primaryFailures > failuresTolerated) {
                primaryBadSince = now
                primaryOnProbation = false
            }
        case (.unreachable, .backup):
            backupFailures += 1
        case (.failedOtherwise, _):
            break
        }
    }
}

/// The domains one call may try, and when it must stop. Pure.
///
/// A call goes to the domain `WeChatPayDomainHealth` names first. It may go on to the other domain only
/// when its failure proves the request never left (`notSent`), or — for a call that may safely be
/// repeated (query, reverse, refund query, bill) — after any failure. A call that must reach the
/// provider at most once (pay, refund) is never sent again after a failure that may have followed its
/// arrival: the caller gets "no answer" and asks (queries) instead. At most one attempt per domain.
public struct WeChatPayCallPlan: Sendable, Equatable {
    public enum Delivery: Sendable, Equatable {
        /// Pay, refund: never send again unless the first surely did not leave.
        case atMostOnce
        /// Query, reverse, refund query, bill: may be sent again anywhere.
        case repeatable
    }

    public enum Failure: Sendable, Equatable {
        /// The request surely did not leave (DNS, refused, connect timeout, TLS handshake).
        case notSent
        /// The request may have reached the provider.
        case maybeSent
    }

    public enum Step: Sendable, Equatable {
        case send(to: WeChatPayDomain)
        case giveUp
    }

    public let delivery: Delivery
    public private(set) var tried: [WeChatPayDomain]

    public init(delivery: Delivery, first: WeChatPayDomain) {
        self.delivery = delivery
        self.tried = [first]
    }

    /// The first step: the domain the health chose.
    public var firstStep: Step { .send(to: tried[0]) }

    /// What to do after the last attempt failed so.
    public mutating func next(after failure: Failure) -> Step {
        guard tried.count < WeChatPayDomain.allCases.count else { return .giveUp }
        if delivery == .atMostOnce && failure == .maybeSent { return .giveUp }
        let next = tried[tried.count - 1].other
        tried.append(next)
        return .send(to: next)
    }
}
