/// How urgent a request is when the service is busy.
///
/// Finishing a payment already under way matters more than starting a new one, and a new one more
/// than a list: under overload the least urgent are turned away first.
public enum RequestPriority: Int, Sendable, Comparable, CaseIterable {
    /// Order and merchant lists, metrics.
    case list = 0
    /// New orders, activation.
    case newOrder = 1
    /// Pay, query, reverse, refund: money may already be moving.
    case completion = 2

    public static func < (a: RequestPriority, b: RequestPriority) -> Bool { a.rawValue < b.rawValue }

    /// Share of the in-flight capacity this priority may fill.
    var share: Double {
        switch self {
        case .list: return 0.5
        case .newOrder: return 0.8
        case .completion: return 1.0
        }
    }
}

/// Overload protection: a bound on requests in flight, reserved in layers by priority.
///
/// A plain value type: the caller keeps it behind a lock, asks `admit`, and calls `finish` once for
/// every admitted request. Beyond the bound a request is refused at once (503 with Retry-After)
/// instead of queueing until every request times out.
public struct AdmissionPolicy: Sendable {
    public let capacity: Int
    public private(set) var inFlight = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// The most requests of `priority` that may be in flight together with everything else.
    public func limit(for priority: RequestPriority) -> Int {
        max(1, Int((Double(capacity) * priority.share).rounded(.down)))
    }

    /// Admits the request (and counts it) or refuses it.
    public mutating func admit(_ priority: RequestPriority) -> Bool {
        guard inFlight < limit(for: priority) else { return false }
        inFlight += 1
        return true
    }

    public mutating func finish() {
        precondition(inFlight > 0, "finish without admit")
        inFlight -= 1
    }
}
