/// One code-payment sale as a pure state machine: no I/O, no clock, Codable so it can be journalled.
///
/// With an order number the terminal holds (`orderNumbers`), a sale is **one call** (`POST /v1/sales`:
/// the order, its payment code and the number together); the number makes it idempotent, so after any
/// doubt the same sale is simply sent again (to either domain) while the code is in memory, and it meets
/// the order it placed. Without one, the two calls of terminals in the field:
/// create order → pay with the customer's code → paid / USERPAYING (poll) / declined / unknown (query)
/// → poll on a schedule → paid, declined, or past the deadline: reverse (repeated, with backoff) → not paid.
/// Rules: the pay request is sent at most once per sale — after any doubt the machine asks the server
/// (query) and shows what it says; a `created` order seen after a pay was sent is reversed (closed) so a
/// pay still on its way cannot charge later. An order closed that way was never charged, so the sale
/// then moves to a new order with the same code, as it does when the service answers GROUP_UNAVAILABLE
/// (at most `maxOrdersAbandoned` times, and only while the code is in memory). Every state change is
/// persisted before the request it leads to is sent, so a restarted client resumes with `resume(nowMs:)`.

/// A value kept in memory but never written to the journal: it encodes as null and decodes as absent,
/// and is left out of equality so snapshots compare by what is journalled.
public struct NotJournalled<Value: Sendable>: Codable, Equatable, Sendable {
    public var value: Value?
    public init() {}
    public init(from decoder: Decoder) throws { value = nil }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encodeNil()
    }
    public static func == (a: NotJournalled, b: NotJournalled) -> Bool { true }
}

/// Tunables of the sale flow.
public struct SaleConfiguration: Codable, Equatable, Sendable {
    /// From the moment pay is sent: past this with no final state, the payment is reversed.
    public var payDeadlineMs: Int64
    /// After an unknown pay result (timeout, system error): wait this long, then query.
    public var unknownQueryDelayMs: Int64
    /// While the customer confirms on the phone (or a query failed): query this often.
    public var pollIntervalMs: Int64
    /// First delay between reverse attempts; doubles each time up to the ceiling.
    public var reverseBackoffBaseMs: Int64
    public var reverseBackoffCeilingMs: Int64
    /// After this many reverse attempts with no answer the sale needs a person.
    public var maxReverseAttempts: Int

    public init(payDeadlineMs: Int64 = 45_000, unknownQueryDelayMs: Int64 = 2_000, pollIntervalMs: Int64 = 3_000,
                reverseBackoffBaseMs: Int64 = 1_000, reverseBackoffCeilingMs: Int64 = 30_000,
                maxReverseAttempts: Int = 20) {
        self.payDeadlineMs = payDeadlineMs; self.unknownQueryDelayMs = unknownQueryDelayMs
        self.pollIntervalMs = pollIntervalMs; self.reverseBackoffBaseMs = reverseBackoffBaseMs
        self.reverseBackoffCeilingMs = reverseBackoffCeilingMs; self.maxReverseAttempts = maxReverseAttempts
    }

    /// Delay before reverse attempt `attempt + 1`, given `attempt` (≥ 1) attempts already failed.
    public func reverseDelayMs(afterAttempts attempt: Int) -> Int64 {
        Backoff.delayMs(attempt: attempt, baseMs: reverseBackoffBaseMs, ceilingMs: reverseBackoffCeilingMs)
    }
}

/// A request that did not get a service answer.
public enum SaleTransportFailure: Codable, Equatable, Sendable {
    /// The request surely did not leave (connection refused, unreachable, DNS).
    case notSent(String)
    /// The request may have arrived (timed out, connection dropped, anything else).
    case uncertain(String)
}

/// Why a request of the sale failed: the service said no, or no answer came.
public enum SaleFailure: Codable, Equatable, Sendable {
    case service(APIError)
    case transport(SaleTransportFailure)

    var text: String {
        switch self {
        case let .service(e): return e.description
        case let .transport(.notSent(s)), let .transport(.uncertain(s)): return s
        }
    }
}

/// How a sale ended.
public enum SaleOutcome: Codable, Equatable, Sendable {
    /// The server says the order is paid.
    case paid(OrderView)
    /// The channel declined; `reason` is its reason (e.g. INSUFFICIENT_FUNDS) or our error code.
    case declined(reason: String)
    /// No money was taken. `reversed`: a started payment was cancelled (or the order closed).
    case notPaid(reversed: Bool, reason: String)
    /// The outcome could not be settled (reverse never answered); the journal keeps the order to check later.
    case needsAttention(OrderNumber?, String)
    /// A cash sale no service domain answered: kept in the journal and forwarded when the service is back
    /// (exactly once, by its number). The view is the terminal's own, as its receipt shows it.
    case storedOffline(OrderView)
}

/// Where a sale stands.
public enum SalePhase: Codable, Equatable, Sendable {
    /// The create-order request is out.
    case creating
    /// The pay request is out (or about to go out) for this order; its answer is awaited.
    case paying(OrderNumber)
    /// USERPAYING: the customer confirms on the phone; queries go out on a schedule.
    case waitingForCustomer(OrderNumber)
    /// The pay result is unknown; queries go out on a schedule until the server says where it stands.
    case querying(OrderNumber)
    /// The payment is being cancelled; `attempts` reverse requests sent so far.
    case reversing(OrderNumber, attempts: Int)
    case finished(SaleOutcome)

    public var isFinal: Bool { if case .finished = self { return true } else { return false } }
}

/// What the state machine is told. Pair every event with the current time in `handle(_:nowMs:)`.
public enum SaleEvent: Equatable, Sendable {
    case orderCreated(OrderView)
    case createFailed(SaleFailure)
    /// The answer to a one-call sale (first or sent again).
    case saleAnswered(OrderView)
    case saleFailed(SaleFailure)
    case payAnswered(OrderView)
    case payFailed(SaleFailure)
    case queryAnswered(OrderView)
    case queryFailed(SaleFailure)
    case reverseAnswered(OrderView)
    case reverseFailed(SaleFailure)
    case timerFired
}

/// What the caller must do, in order.
public enum SaleAction: Equatable, Sendable {
    case createOrder(CreateOrderRequest)
    /// The one-call sale, for `SaleRequest.orderNo`; safe to send again as it is (signed anew).
    case sendSale(SaleRequest)
    case sendPay(OrderNumber, PayRequest)
    case sendQuery(OrderNumber)
    case sendReverse(OrderNumber)
    /// Deliver `.timerFired` at (or soon after) this time; replaces any earlier request.
    case scheduleTimer(atMs: Int64)
    /// Write this snapshot to the journal before carrying out the actions after it.
    case persist(SaleStateMachine)
    /// The phase changed; show it.
    case report(SalePhase)
}

/// The sale state machine; see the file comment for its rules.
public struct SaleStateMachine: Codable, Equatable, Sendable {
    public let configuration: SaleConfiguration
    public let request: CreateOrderRequest
    public private(set) var phase: SalePhase
    /// The customer's code; kept only until the pay request is handed out, never journalled after that.
    private var paymentCode: String?
    /// The code again, in memory only (never journalled), for a pay the service refused because the
    /// order's DB group is down: nothing was charged, so the sale moves to a new order in a live group.
    private var codeForNewOrder = NotJournalled<String>()
    /// How many times the sale has moved to a new order that way.
    public private(set) var ordersAbandoned = 0
    /// At most this many moves to a new order, so a sale can never loop.
    public static let maxOrdersAbandoned = 3
    /// When pay was handed out; the deadline counts from here.
    public private(set) var payStartedAtMs: Int64?
    /// The latest order view the server sent.
    public private(set) var lastOrder: OrderView?
    /// Whether a request is out and its answer (or failure) is awaited.
    public private(set) var requestInFlight: Bool = false
    /// When the next query or reverse goes out, if one is planned.
    public private(set) var wakeAtMs: Int64?
    /// Whether a pay request has ever been handed out (so it must never be again).
    public private(set) var paySent: Bool = false
    /// Numbers the terminal holds for this sale and no other, in the order they are to be used: each
    /// one-call sale uses the first, and a sale that could not be placed (its group down) moves to the next.
    public private(set) var orderNumbers: [OrderNumber] = []
    /// Whether the order in hand was placed by a one-call sale (so doubt is settled by sending it again).
    public private(set) var oneCall = false
    /// How many fresh numbers a one-call sale asks the service for (`SaleRequest.reserve`).
    public var reserveNumbers = 0

    public init(request: CreateOrderRequest, paymentCode: String, orderNumbers: [OrderNumber] = [],
                configuration: SaleConfiguration = SaleConfiguration()) {
        self.configuration = configuration
        self.request = request
        self.paymentCode = paymentCode
        self.orderNumbers = orderNumbers
        self.phase = .creating
    }

    private enum CodingKeys: String, CodingKey {
        case configuration, request, phase, paymentCode, codeForNewOrder, ordersAbandoned, payStartedAtMs, lastOrder,
             requestInFlight, wakeAtMs, paySent, orderNumbers, oneCall, reserveNumbers
    }

    /// Reads a journalled sale; one journalled before one-call sales existed has no numbers and is two-call.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        configuration = try c.decode(SaleConfiguration.self, forKey: .configuration)
        request = try c.decode(CreateOrderRequest.self, forKey: .request)
        phase = try c.decode(SalePhase.self, forKey: .phase)
        paymentCode = try c.decodeIfPresent(String.self, forKey: .paymentCode)
        codeForNewOrder = NotJournalled()
        ordersAbandoned = try c.decodeIfPresent(Int.self, forKey: .ordersAbandoned) ?? 0
        payStartedAtMs = try c.decodeIfPresent(Int64.self, forKey: .payStartedAtMs)
        lastOrder = try c.decodeIfPresent(OrderView.self, forKey: .lastOrder)
        requestInFlight = try c.decodeIfPresent(Bool.self, forKey: .requestInFlight) ?? false
        wakeAtMs = try c.decodeIfPresent(Int64.self, forKey: .wakeAtMs)
        paySent = try c.decodeIfPresent(Bool.self, forKey: .paySent) ?? false
        orderNumbers = try c.decodeIfPresent([OrderNumber].self, forKey: .orderNumbers) ?? []
        oneCall = try c.decodeIfPresent(Bool.self, forKey: .oneCall) ?? false
        reserveNumbers = try c.decodeIfPresent(Int.self, forKey: .reserveNumbers) ?? 0
    }

    /// Starts the sale: journal it, then send the one-call sale with the first number (or, with none,
    /// create the order).
    public mutating func start(nowMs: Int64) -> [SaleAction] {
        if let one = startOneCall(nowMs: nowMs) { return one }
        requestInFlight = true
        return [.persist(self), .report(phase), .createOrder(request)]
    }

    /// Hands out the one-call sale on the next number the sale holds; nil when it holds none (or has no code).
    private mutating func startOneCall(nowMs: Int64) -> [SaleAction]? {
        guard !orderNumbers.isEmpty, let code = paymentCode ?? codeForNewOrder.value else { return nil }
        let number = orderNumbers.removeFirst()
        codeForNewOrder.value = code
        paymentCode = nil
        paySent = true
        oneCall = true
        payStartedAtMs = nowMs
        lastOrder = nil
        wakeAtMs = nil
        requestInFlight = true
        // Journalled as "paying on this number" before the request leaves: a restart queries it.
        return transition(to: .paying(number)) + [.sendSale(saleRequest(number, code: code))]
    }

    private func saleRequest(_ number: OrderNumber, code: String) -> SaleRequest {
        SaleRequest(orderNo: number, amount: request.amount, currency: request.currency, items: request.items,
                    clientRef: request.clientRef, paymentCode: code, reserve: reserveNumbers > 0 ? reserveNumbers : nil,
                    staffId: request.staffId, shiftId: request.shiftId)
    }

    /// Continues a sale read back from the journal. A sale whose pay may have gone out resumes by
    /// querying, never by paying again.
    public mutating func resume(nowMs: Int64) -> [SaleAction] {
        wakeAtMs = nil
        switch phase {
        case .creating:
            // No order number is known, so the old order (if any) can never be paid; make a new one.
            requestInFlight = true
            return [.report(phase), .createOrder(request)]
        case let .paying(order), let .waitingForCustomer(order), let .querying(order):
            paySent = true
            paymentCode = nil
            if payStartedAtMs == nil { payStartedAtMs = nowMs }
            return transition(to: .querying(order)) + sendQuery(order)
        case let .reversing(order, _):
            return [.report(phase)] + sendReverse(order)
        case .finished:
            requestInFlight = false
            return [.report(phase)]
        }
    }

    /// Feeds one event.
    public mutating func handle(_ event: SaleEvent, nowMs: Int64) -> [SaleAction] {
        switch (phase, event) {
        case (.creating, let .orderCreated(view)):
            requestInFlight = false
            lastOrder = view
            guard let code = paymentCode, !paySent else {
                return finish(.needsAttention(view.orderNo, "no payment code to pay with"))
            }
            codeForNewOrder.value = code
            paymentCode = nil
            paySent = true
            payStartedAtMs = nowMs
            requestInFlight = true
            // Journal "pay may be out" before it is: a restart then queries instead of paying.
            return transition(to: .paying(view.orderNo)) + [.sendPay(view.orderNo, PayRequest(paymentCode: code))]

        case (.creating, let .createFailed(failure)):
            requestInFlight = false
            return finish(.notPaid(reversed: false, reason: "order not created: \(failure.text)"))

        case (.paying(let order), let .payAnswered(view)),
             (.paying(let order), let .saleAnswered(view)):
            requestInFlight = false
            return settle(order, view, nowMs: nowMs, userPaying: true)

        case (.paying(let order), let .saleFailed(failure)):
            requestInFlight = false
            if case let .service(error) = failure, error.code == .notFound {
                // A service from before one-call sales: the sale takes the two calls.
                orderNumbers = []
            }
            if case let .service(error) = failure, Self.saleNotPlaced(error.code), let moved = moveToNewOrder(nowMs: nowMs) {
                // Refused before its commit (the group is down, or the number is not usable): nothing was
                // placed for this number and the channel was not called. Sell on the next number.
                return moved
            }
            if case let .service(error) = failure, Self.payRefusedOutright(error.code) {
                return finish(.declined(reason: error.code.rawValue))
            }
            // Anything else is doubt: send the same sale again after a short wait (it meets its order).
            return transition(to: .querying(order)) + wait(until: nowMs + configuration.unknownQueryDelayMs)

        case (.waitingForCustomer(let order), let .saleAnswered(view)),
             (.querying(let order), let .saleAnswered(view)):
            requestInFlight = false
            return settle(order, view, nowMs: nowMs, userPaying: view.status == .paying)

        case (.waitingForCustomer(let order), .saleFailed),
             (.querying(let order), .saleFailed):
            // A sale sent again that failed is a query that failed: its first copy may have been placed.
            requestInFlight = false
            if pastDeadline(nowMs) { return startReversing(order) }
            return wait(until: min(nowMs + configuration.pollIntervalMs, deadlineMs ?? Int64.max))

        case (.paying(let order), let .payFailed(failure)):
            requestInFlight = false
            if case let .service(error) = failure, error.code == .groupUnavailable, let moved = moveToNewOrder(nowMs: nowMs) {
                // The service promises GROUP_UNAVAILABLE from pay means the channel was never called: the
                // order's group is down. Leave that order unpaid and sell on a new one in a live group.
                return moved
            }
            if case let .service(error) = failure, Self.payRefusedOutright(error.code) {
                // The service refused the request itself; no payment was started.
                return finish(.declined(reason: error.code.rawValue))
            }
            // Anything else is doubt: ask the server after a short wait.
            return transition(to: .querying(order)) + wait(until: nowMs + configuration.unknownQueryDelayMs)

        case (.waitingForCustomer(let order), let .queryAnswered(view)),
             (.querying(let order), let .queryAnswered(view)):
            requestInFlight = false
            return settle(order, view, nowMs: nowMs, userPaying: view.status == .paying)

        case (.waitingForCustomer(let order), .queryFailed),
             (.querying(let order), .queryFailed):
            requestInFlight = false
            if pastDeadline(nowMs) { return startReversing(order) }
            return wait(until: min(nowMs + configuration.pollIntervalMs, deadlineMs ?? Int64.max))

        case (.waitingForCustomer(let order), .timerFired),
             (.querying(let order), .timerFired):
            guard !requestInFlight, let wake = wakeAtMs, nowMs >= wake else { return [] }
            wakeAtMs = nil
            if pastDeadline(nowMs) { return startReversing(order) }
            return sendQuery(order)

        case (.reversing(let order, _), let .reverseAnswered(view)),
             (.reversing(let order, _), let .queryAnswered(view)):
            requestInFlight = false
            lastOrder = view
            switch view.status {
            case .paid: return finish(.paid(view))
            case .declined: return finish(.declined(reason: view.failure?.reason ?? "DECLINED"))
            case .closed:
                // Closed while `created`: the pay never claimed the order, so the channel was never called
                // for it and the code is unspent. A pay still on its way will be refused (the order is
                // closed), so the sale can take the payment on a new order.
                if let moved = moveToNewOrder(nowMs: nowMs) { return moved }
                return finish(.notPaid(reversed: true, reason: "payment cancelled"))
            case .reversed: return finish(.notPaid(reversed: true, reason: "payment cancelled"))
            case .created, .paying: return retryReverse(order, nowMs: nowMs)
            }

        case (.reversing(let order, _), let .reverseFailed(failure)):
            requestInFlight = false
            if case let .service(error) = failure, error.code == .orderNotReversible {
                // Already final on the server: ask which final state, and show that.
                return sendQuery(order)
            }
            return retryReverse(order, nowMs: nowMs)

        case (.reversing(let order, _), .queryFailed):
            requestInFlight = false
            return retryReverse(order, nowMs: nowMs)

        case (.reversing(let order, _), .timerFired):
            guard !requestInFlight, let wake = wakeAtMs, nowMs >= wake else { return [] }
            wakeAtMs = nil
            return sendReverse(order)

        default:
            // Late or unexpected answers (e.g. a query answer after reversing began) change nothing.
            return []
        }
    }

    // MARK: - Internals

    /// Refusals of a first one-call sale that prove nothing was placed under its number, so the sale may
    /// move to the next number with the same code.
    static func saleNotPlaced(_ code: ErrorCode) -> Bool {
        code == .groupUnavailable || code == .idempotencyConflict || code == .orderOtherStore || code == .notFound
    }

    /// Service refusals that prove the pay did not start a payment (checked before any channel call).
    static func payRefusedOutright(_ code: ErrorCode) -> Bool {
        switch code {
        case .paymentCodeInvalid, .channelNotConfigured, .amountInvalid, .malformedRequest, .invalidField, .bodyTooLarge,
             .signatureMissing, .signatureInvalid, .timestampSkewed, .deviceUnknown, .deviceRevoked,
             .orderNotFound, .orderOtherStore:
            return true
        default:
            return false
        }
    }

    var deadlineMs: Int64? { payStartedAtMs.map { $0 + configuration.payDeadlineMs } }

    func pastDeadline(_ nowMs: Int64) -> Bool { deadlineMs.map { nowMs >= $0 } ?? false }

    /// Acts on what the server says about the order after a pay or query.
    private mutating func settle(_ order: OrderNumber, _ view: OrderView, nowMs: Int64, userPaying: Bool) -> [SaleAction] {
        lastOrder = view
        switch view.status {
        case .paid:
            return finish(.paid(view))
        case .declined:
            return finish(.declined(reason: view.failure?.reason ?? "DECLINED"))
        case .reversed, .closed:
            return finish(.notPaid(reversed: true, reason: "the order was cancelled"))
        case .created:
            // The pay has not landed and may still be on its way: close the order so it never charges.
            return startReversing(order)
        case .paying:
            if pastDeadline(nowMs) { return startReversing(order) }
            let next = min(nowMs + configuration.pollIntervalMs, deadlineMs ?? Int64.max)
            let target: SalePhase = userPaying ? .waitingForCustomer(order) : .querying(order)
            return (phase == target ? [] : transition(to: target)) + wait(until: next)
        }
    }

    /// Starts the sale again on a new order with the code kept in memory, when the code is known to be
    /// unspent; nil once `maxOrdersAbandoned` moves were made or the code is not in memory (a sale read
    /// back from the journal never pays again).
    private mutating func moveToNewOrder(nowMs: Int64) -> [SaleAction]? {
        guard let code = codeForNewOrder.value, ordersAbandoned < Self.maxOrdersAbandoned else { return nil }
        ordersAbandoned += 1
        paymentCode = code
        if let one = startOneCall(nowMs: nowMs) { return one }
        oneCall = false
        paymentCode = code
        paySent = false
        payStartedAtMs = nil
        lastOrder = nil
        wakeAtMs = nil
        requestInFlight = true
        return transition(to: .creating) + [.createOrder(request)]
    }

    private mutating func startReversing(_ order: OrderNumber) -> [SaleAction] {
        transition(to: .reversing(order, attempts: 0)) + sendReverse(order)
    }

    private mutating func retryReverse(_ order: OrderNumber, nowMs: Int64) -> [SaleAction] {
        guard case let .reversing(_, attempts) = phase else { return [] }
        if attempts >= configuration.maxReverseAttempts {
            return finish(.needsAttention(order, "cancelling the payment got no answer after \(attempts) tries"))
        }
        return wait(until: nowMs + configuration.reverseDelayMs(afterAttempts: attempts))
    }

    /// Asks where the order stands: a one-call sale whose code is still in memory is sent again as it is
    /// (it answers how its order stands, and places it if the first copy never landed); otherwise a query.
    private mutating func sendQuery(_ order: OrderNumber) -> [SaleAction] {
        requestInFlight = true
        if oneCall, let code = codeForNewOrder.value { return [.sendSale(saleRequest(order, code: code))] }
        return [.sendQuery(order)]
    }

    private mutating func sendReverse(_ order: OrderNumber) -> [SaleAction] {
        guard case let .reversing(o, attempts) = phase else { return [] }
        phase = .reversing(o, attempts: attempts + 1)
        requestInFlight = true
        return [.persist(self), .sendReverse(order)]
    }

    private mutating func wait(until atMs: Int64) -> [SaleAction] {
        wakeAtMs = atMs
        return [.scheduleTimer(atMs: atMs)]
    }

    private mutating func transition(to newPhase: SalePhase) -> [SaleAction] {
        phase = newPhase
        return [.persist(self), .report(newPhase)]
    }

    private mutating func finish(_ outcome: SaleOutcome) -> [SaleAction] {
        requestInFlight = false
        wakeAtMs = nil
        return transition(to: .finished(outcome))
    }
}
