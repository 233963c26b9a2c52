/// One cash sale as a pure state machine: no I/O, no clock, Codable so it can be journalled.
///
/// The cash is in the drawer before anything is sent, so the sale must end recorded, never lost and never
/// twice. It is a one-call sale (`POST /v1/sales`, tender `cash`) on a number the terminal holds, and the
/// number makes it idempotent: after any doubt, a crash or a restart the same sale is sent again as it is
/// and meets the order it placed. Nothing can be charged, so sending again is always safe. When no service
/// domain answers, the sale is kept in the journal as *waiting to forward* (an offline cash sale: the
/// receipt says so) and sent again until it is placed. It moves to its next number only when the service
/// proves the first placed nothing (`GROUP_UNAVAILABLE`, or the number is not usable); a refusal of the
/// sale itself ends it as refused (the cashier hands the cash back).
public struct CashSaleStateMachine: Codable, Equatable, Sendable {
    /// The sale as it is sent, on `number`; the fields but the number never change.
    public private(set) var request: SaleRequest
    public private(set) var phase: CashSalePhase
    /// Numbers still held for this sale, in the order they are to be used.
    public private(set) var spareNumbers: [OrderNumber]
    /// When the sale was rung up (terminal clock), so the offline limits can bound how long it waits.
    public let takenAtMs: Int64
    /// Requests sent so far.
    public private(set) var attempts = 0
    /// Whether any copy sent may have reached the service (an answer lost, a timeout): then the sale may
    /// be placed already and can only end by being sent until it is answered. While false (every copy
    /// surely refused before it left, or refused by the service as not placed) it may be given up.
    public private(set) var mayHaveArrived = false
    public let configuration: CashSaleConfiguration

    /// - Parameter orderNumbers: at least one; the first is used first.
    public init?(request: SaleRequest, orderNumbers: [OrderNumber], takenAtMs: Int64,
                 configuration: CashSaleConfiguration = CashSaleConfiguration()) {
        guard let first = orderNumbers.first else { return nil }
        var r = request
        r.orderNo = first
        r.tender = .cash
        r.paymentCode = nil
        self.request = r
        self.spareNumbers = Array(orderNumbers.dropFirst())
        self.takenAtMs = takenAtMs
        self.configuration = configuration
        phase = .placing(first)
    }

    public var orderNo: OrderNumber { request.orderNo }

    /// Journals the sale, then sends it.
    public mutating func start() -> [CashSaleAction] {
        attempts += 1
        return [.persist(self), .report(phase), .send(request)]
    }

    /// Continues a sale read back from the journal (a restart, or the forwarder): it is sent again as it is.
    public mutating func resume() -> [CashSaleAction] {
        guard !phase.isFinal else { return [.report(phase)] }
        attempts += 1
        return [.persist(self), .send(request)]
    }

    public mutating func handle(_ event: CashSaleEvent, nowMs: Int64) -> [CashSaleAction] {
        guard !phase.isFinal else { return [] }
        switch event {
        case .answered(let view):
            return finish(.recorded(view))
        case .failed(.service(let error)) where error.code == .groupUnavailable || error.code == .idempotencyConflict
                || error.code == .orderOtherStore:
            // Nothing was placed under this number (its group did not commit, or the number is another
            // sale's): the next number, or the same one again later when the group is back.
            if !spareNumbers.isEmpty {
                request.orderNo = spareNumbers.removeFirst()
                phase = .placing(request.orderNo)
                attempts += 1
                return [.persist(self), .report(phase), .send(request)]
            }
            if error.code != .groupUnavailable { return finish(.refused(error)) }
            return waitToForward(nowMs: nowMs)
        case .failed(.service(let error)) where !error.retryable:
            return finish(.refused(error))
        case .failed(let failure):
            switch failure {
            case .transport(.notSent): break
            // Refused for now before anything was written (busy, base data down); an internal error may
            // have come after the commit.
            case .service(let e) where e.code != .internalError: break
            default: mayHaveArrived = true
            }
            // No answer, or the service is busy: it may have been placed. Keep it and send it again.
            if case .placing = phase, attempts < configuration.foregroundAttempts {
                return [.wait(untilMs: nowMs + configuration.retryDelayMs)]
            }
            return waitToForward(nowMs: nowMs)
        case .timerFired:
            attempts += 1
            return [.persist(self), .send(request)]
        }
    }

    /// Ends a sale that was surely never placed (`mayHaveArrived` false) as not taken, e.g. when keeping it
    /// offline would pass the offline limits; nil (nothing changes) if it may have been placed.
    public mutating func giveUp(_ why: APIError) -> [CashSaleAction]? {
        guard !mayHaveArrived, !phase.isFinal else { return nil }
        return finish(.refused(why))
    }

    private mutating func waitToForward(nowMs: Int64) -> [CashSaleAction] {
        let moved = !(phase == .waitingToForward(request.orderNo))
        phase = .waitingToForward(request.orderNo)
        return [.persist(self)] + (moved ? [.report(phase)] : []) + [.stored]
    }

    private mutating func finish(_ outcome: CashSaleOutcome) -> [CashSaleAction] {
        phase = .finished(outcome)
        return [.persist(self), .report(phase)]
    }
}

/// Tunables of the cash sale.
public struct CashSaleConfiguration: Codable, Equatable, Sendable {
    /// Requests tried while the cashier waits before the sale is kept to be forwarded.
    public var foregroundAttempts: Int
    /// Between those tries.
    public var retryDelayMs: Int64
    public init(foregroundAttempts: Int = 2, retryDelayMs: Int64 = 1_000) {
        self.foregroundAttempts = foregroundAttempts
        self.retryDelayMs = retryDelayMs
    }
}

public enum CashSalePhase: Codable, Equatable, Sendable {
    /// Being sent on this number while the cashier waits.
    case placing(OrderNumber)
    /// No answer yet: kept in the journal and sent again when the service is back (an offline sale).
    case waitingToForward(OrderNumber)
    case finished(CashSaleOutcome)

    public var isFinal: Bool { if case .finished = self { return true } else { return false } }
}

public enum CashSaleOutcome: Codable, Equatable, Sendable {
    /// The service has the order, paid in cash.
    case recorded(OrderView)
    /// The service refused the sale itself: it is not recorded (hand the cash back).
    case refused(APIError)
}

public enum CashSaleEvent: Equatable, Sendable {
    case answered(OrderView)
    case failed(SaleFailure)
    case timerFired
}

public enum CashSaleAction: Equatable, Sendable {
    /// Write this snapshot to the journal before doing what follows.
    case persist(CashSaleStateMachine)
    case report(CashSalePhase)
    /// Send the one-call sale as it is (signed anew).
    case send(SaleRequest)
    /// Deliver `.timerFired` at this time (while the cashier waits).
    case wait(untilMs: Int64)
    /// The sale is kept to be forwarded; the caller may stop driving it (the forwarder takes it on).
    case stored
}
