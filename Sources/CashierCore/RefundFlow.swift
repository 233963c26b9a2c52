/// One refund as a pure state machine, Codable for the local journal.
///
/// Every attempt carries the same `refundRef`, so the service never refunds twice however often it is
/// retried. A `pending` answer, a retryable service error or a transport failure is retried with
/// backoff; a final refusal (wrong PIN, more than remains paid, …) ends the refund. The supervisor's
/// PIN is never stored here: the caller holds it in memory and adds it to each request.

/// How a refund ended.
public enum RefundOutcome: Codable, Equatable, Sendable {
    case refunded(RefundView)
    case refused(APIError)
    /// No confirmation after all attempts; retry later with the same reference (kept in the journal).
    case needsAttention(String)
}

public enum RefundPhase: Codable, Equatable, Sendable {
    /// A refund request is out; `attempts` sent so far.
    case sending(attempts: Int)
    /// Waiting to retry after an unclear or pending answer.
    case waiting(attempts: Int)
    case finished(RefundOutcome)
}

public enum RefundEvent: Equatable, Sendable {
    case answered(RefundView)
    case failed(SaleFailure)
    case timerFired
}

public enum RefundAction: Equatable, Sendable {
    /// Send `POST refunds` for `order` with this amount and reference, plus the PIN the caller holds.
    case sendRefund(OrderNumber, amount: Int64, refundRef: String)
    case scheduleTimer(atMs: Int64)
    case persist(RefundStateMachine)
    case report(RefundPhase)
}

public struct RefundStateMachine: Codable, Equatable, Sendable {
    public let order: OrderNumber
    public let amount: Int64
    public let refundRef: String
    public let maxAttempts: Int
    public let retryBaseMs: Int64
    public let retryCeilingMs: Int64
    public private(set) var phase: RefundPhase = .sending(attempts: 0)
    public private(set) var wakeAtMs: Int64?

    public init(order: OrderNumber, amount: Int64, refundRef: String, maxAttempts: Int = 8,
                retryBaseMs: Int64 = 1_000, retryCeilingMs: Int64 = 30_000) {
        self.order = order; self.amount = amount; self.refundRef = refundRef
        self.maxAttempts = maxAttempts; self.retryBaseMs = retryBaseMs; self.retryCeilingMs = retryCeilingMs
    }

    /// Sends the first attempt, or (read back from the journal) the next one with the same reference.
    public mutating func start(nowMs: Int64) -> [RefundAction] {
        switch phase {
        case .finished: return [.report(phase)]
        case let .sending(n), let .waiting(n): return send(attempts: n)
        }
    }

    public mutating func handle(_ event: RefundEvent, nowMs: Int64) -> [RefundAction] {
        switch (phase, event) {
        case (.sending, let .answered(view)) where view.status == .succeeded:
            return finish(.refunded(view))
        case (.sending(let n), .answered):
            return retry(after: n, nowMs: nowMs)
        case (.sending(let n), let .failed(failure)):
            if case let .service(error) = failure, !error.retryable { return finish(.refused(error)) }
            return retry(after: n, nowMs: nowMs)
        case (.waiting(let n), .timerFired):
            guard let wake = wakeAtMs, nowMs >= wake else { return [] }
            wakeAtMs = nil
            return send(attempts: n)
        default:
            return []
        }
    }

    private mutating func send(attempts: Int) -> [RefundAction] {
        phase = .sending(attempts: attempts + 1)
        return [.persist(self), .report(phase), .sendRefund(order, amount: amount, refundRef: refundRef)]
    }

    private mutating func retry(after attempts: Int, nowMs: Int64) -> [RefundAction] {
        if attempts >= maxAttempts {
            return finish(.needsAttention("refund \(refundRef) not confirmed after \(attempts) tries"))
        }
        let at = nowMs + Backoff.delayMs(attempt: attempts, baseMs: retryBaseMs, ceilingMs: retryCeilingMs)
        phase = .waiting(attempts: attempts)
        wakeAtMs = at
        return [.persist(self), .report(phase), .scheduleTimer(atMs: at)]
    }

    private mutating func finish(_ outcome: RefundOutcome) -> [RefundAction] {
        phase = .finished(outcome)
        wakeAtMs = nil
        return [.persist(self), .report(phase)]
    }
}
