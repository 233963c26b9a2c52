import CashierCore
import Foundation

/// Cash sales: one call on a number the terminal holds, kept in the journal until the service has it,
/// and when no domain answers taken offline within `offline` limits and forwarded later, exactly once.
extension CashierEngine {
    /// Sells for cash: `cashGiven` (minor units, at least the total; nil: exact) is what the customer
    /// handed over. Blocks while the sale is sent (a few seconds at most when the service is down).
    /// Ends `.paid` (recorded by the service), `.storedOffline` (kept to forward; the receipt says so)
    /// or `.notPaid` (refused, or not taken: the cash goes back to the customer).
    public func sellCash(_ request: CreateOrderRequest, cashGiven: Int64?) -> SaleResult {
        let id = "C" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        func refused(_ why: String) -> SaleResult {
            log.write("cash sale \(id) not taken: \(why)")
            return SaleResult(id: id, orderNo: nil, outcome: .notPaid(reversed: false, reason: why))
        }
        if let cashGiven, cashGiven < request.amount { return refused("the cash given is less than the total") }
        let offline = prober.snapshot.unreachable
        if offline, let why = offlineRefusal(amount: request.amount) { return refused(why) }
        // Offline, only the numbers at hand; else those, or a few asked for when there are none.
        let numbers = offline ? (try? journal.takeOrderNumbers(3, now: nowMs())) ?? [] : numbersForSale()
        guard !numbers.isEmpty else {
            return refused("this terminal holds no order number for a cash sale and the service cannot be reached")
        }
        var req = SaleRequest(orderNo: numbers[0], amount: request.amount, currency: request.currency, items: request.items,
                              clientRef: request.clientRef ?? id, paymentCode: nil, tender: .cash, cashGiven: cashGiven,
                              staffId: request.staffId, shiftId: request.shiftId)
        stamp(&req.staffId, &req.shiftId)
        let left = (try? journal.orderNumberCount(now: nowMs())) ?? 0
        req.reserve = min(5, max(1, numberStock - left))
        guard var machine = CashSaleStateMachine(request: req, orderNumbers: numbers, takenAtMs: nowMs()) else {
            return refused("no order number")
        }
        return driveCashSale(id: id, machine: &machine, actions: machine.start(), foreground: true)
    }

    /// Why a new offline sale of `amount` may not be taken now (nil: it may).
    /// `excluding`: a sale already in the journal that is the one being decided.
    func offlineRefusal(amount: Int64, excluding: String? = nil) -> String? {
        let limits = configuration.offline
        guard limits.maxSales > 0 else { return "the service cannot be reached and this terminal takes no offline sales" }
        var waiting = (try? journal.unrecordedCashTotals()) ?? (count: 0, amount: 0, oldestMs: nil)
        if excluding != nil, waiting.count > 0 { waiting.count -= 1; waiting.amount -= amount }
        let money = { (v: Int64) in Money(minorUnits: v, currency: self.credentials?.store.currency ?? "CNY").decimalString }
        if amount > limits.maxSaleAmount { return "offline, a cash sale may be at most \(money(limits.maxSaleAmount))" }
        if waiting.count >= limits.maxSales { return "\(waiting.count) offline sales already wait to be sent, the most allowed" }
        if waiting.amount + amount > limits.maxTotalAmount { return "offline sales may total at most \(money(limits.maxTotalAmount)) until they are sent" }
        if let oldest = waiting.oldestMs, nowMs() - oldest > Int64(limits.maxHours) * 3_600_000 {
            return "an offline sale has waited more than \(limits.maxHours) hours to be sent; no more until it is"
        }
        return nil
    }

    /// How many cash sales the service does not have yet.
    public var cashSalesToForward: Int { (try? journal.unrecordedCashTotals().count) ?? 0 }

    /// Sends every cash sale the service does not have yet, oldest first, each on its own number (so a
    /// copy already placed is met, never doubled); stops at the first that still gets no answer. Sales
    /// being placed by the cashier right now are left to that. One pass at a time. Blocks.
    @discardableResult
    public func forwardStoredSales() -> [SaleResult] {
        guard forwarding.try() else { return [] }
        defer { forwarding.unlock() }
        var results: [SaleResult] = []
        for (id, stored) in (try? journal.unrecordedCashSales()) ?? [] {
            if case .placing = stored.phase, nowMs() - stored.takenAtMs < 60_000 { continue }
            var machine = stored
            log.write("forwarding cash sale \(id) on \(machine.orderNo)")
            let result = driveCashSale(id: id, machine: &machine, actions: machine.resume(), foreground: false)
            results.append(result)
            if case .storedOffline = result.outcome { break }
        }
        return results
    }

    private func driveCashSale(id: String, machine: inout CashSaleStateMachine, actions: [CashSaleAction], foreground: Bool) -> SaleResult {
        var queue = actions
        var steps = 0
        while steps < 1_000, !queue.isEmpty {
            steps += 1
            switch queue.removeFirst() {
            case .persist(let snapshot):
                do { try journal.saveCashSale(id: id, snapshot) } catch { log.write("journal write failed: \(error)") }
            case .report(let phase):
                log.write("cash sale \(id): \(phase)")
                emit(.cashSale(id: id, phase: phase))
            case .send(let req):
                switch perform("POST", API.Path.sales, body: API.encode(req), policy: .safeButSlow).decoded(SaleResponse.self) {
                case .success(let answer):
                    keepOrderNumbers(answer.orderNumbers)
                    queue += machine.handle(.answered(answer.order), nowMs: nowMs())
                case .failure(let f):
                    queue += machine.handle(.failed(f.saleFailure), nowMs: nowMs())
                }
            case .wait(let until):
                let delay = until - nowMs()
                if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
                queue += machine.handle(.timerFired, nowMs: nowMs())
            case .stored:
                let view = localView(of: machine.request)
                guard foreground else { return SaleResult(id: id, orderNo: view.orderNo, outcome: .storedOffline(view)) }
                if let why = offlineRefusal(amount: machine.request.amount, excluding: id),
                   let ended = machine.giveUp(APIError(.serviceUnreachable, detail: why)) {
                    // Never placed, and over the offline limits: not taken (the cash goes back).
                    queue += ended
                    continue
                }
                log.write("cash sale \(id) kept offline on \(view.orderNo); it is sent when the service answers")
                return SaleResult(id: id, orderNo: view.orderNo, outcome: .storedOffline(view),
                                  receipt: writeReceipt(view, offline: true, openDrawer: true))
            }
        }
        switch machine.phase {
        case .finished(.recorded(let view)):
            log.write("cash sale \(id) recorded as \(view.orderNo)")
            // A forwarded sale had its receipt printed when it was taken.
            let receipt = foreground ? writeReceipt(view, openDrawer: true) : nil
            return SaleResult(id: id, orderNo: view.orderNo, outcome: .paid(view), receipt: receipt)
        case .finished(.refused(let e)):
            log.write("cash sale \(id) refused: \(e)")
            return SaleResult(id: id, orderNo: nil, outcome: .notPaid(reversed: false, reason: e.description))
        default:
            return SaleResult(id: id, orderNo: machine.orderNo, outcome: .needsAttention(machine.orderNo, "the cash sale stopped in \(machine.phase)"))
        }
    }

    /// The sale as the terminal itself knows it, for the receipt of an offline sale.
    private func localView(of r: SaleRequest) -> OrderView {
        let now = nowMs()
        return OrderView(orderNo: r.orderNo, storeId: credentials?.store.storeId ?? "", deviceId: credentials?.deviceId ?? "",
                         amount: r.amount, currency: r.currency ?? credentials?.store.currency ?? "", status: .paid,
                         items: r.items ?? [], clientRef: r.clientRef, createdAt: now, updatedAt: now, paidAt: now,
                         tender: .cash, cashGiven: r.cashGiven, staffId: r.staffId, shiftId: r.shiftId)
    }
}

/// Sends the cash sales kept offline every few seconds while there are some and a domain answers, until
/// the engine stops.
final class CashSaleForwarder: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `lock`.
    private let lock = NSLock()
    private var stopped = false
    private weak var engine: CashierEngine?
    private let everySeconds: Double

    init(engine: CashierEngine, everySeconds: Double = 5) {
        self.engine = engine
        self.everySeconds = everySeconds
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "cash-sale-forwarder"
        thread.start()
    }

    func stop() { lock.lock(); stopped = true; lock.unlock() }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func run() {
        while !isStopped {
            var slept = 0.0
            while slept < everySeconds, !isStopped { Thread.sleep(forTimeInterval: 0.25); slept += 0.25 }
            guard !isStopped, let engine else { return }
            if engine.cashSalesToForward > 0, !engine.prober.snapshot.unreachable, engine.prober.snapshot.active != nil {
                engine.forwardStoredSales()
            }
        }
    }
}
