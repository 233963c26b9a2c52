import CashierClient
import CashierCore
import CashierTUI
import Foundation

/// The screens' `CashierBackend` on top of `CashierEngine`: commands run on threads of their own and
/// their answers wait in a queue until the app loop collects them with `pollEvents()`.
struct EngineBackend: CashierBackend {
    let engine: CashierEngine
    private let inbox: Inbox

    init(engine: CashierEngine) {
        self.engine = engine
        self.inbox = Inbox()
        let inbox = self.inbox
        engine.subscribe { event in
            if case let .sale(_, phase, secondsLeft) = event { inbox.push(.sale(phase, secondsLeft: secondsLeft)) }
        }
    }

    func status() -> BackendStatus {
        let s = engine.status()
        let domains = s.domains.map { d -> DomainStatus in
            let state: DomainState
            switch d.state {
            case "active": state = .active
            case "standby": state = .standby
            case "down": state = .down
            case "busy": state = .busy
            default: state = .probing
            }
            let host = URL(string: d.url)?.host ?? d.url
            return DomainStatus(name: host, state: state, latencyMilliseconds: d.latencyMs.map { Int($0) })
        }
        var status = BackendStatus(domains: domains, deviceId: s.deviceId, store: s.store, busy: inbox.busy,
                             clockOffsetMs: s.clockOffsetMs, staff: s.staff, shift: s.shift, salesToForward: s.cashSalesToForward,
                             idleLockSeconds: engine.configuration.idleLockSeconds)
        status.discountLimitPercent = engine.configuration.discountLimitPercent
        return status
    }

    /// Items from the configured catalogue (`catalog_path`), so checkout lines can be item codes.
    func catalogItem(code: String) -> OrderItem? { engine.catalogItem(code: code) }

    mutating func send(_ command: BackendCommand) {
        let engine = self.engine, inbox = self.inbox
        inbox.begin()
        let thread = Thread {
            defer { inbox.end() }
            switch command {
            case .activate(let code):
                inbox.push(.activation(engine.activate(code: code).map { Activation(deviceId: $0.deviceId, store: $0.store) }))
            case .startSale(let sale):
                let request = CreateOrderRequest(amount: sale.amount, currency: sale.currency,
                                                 items: sale.items.isEmpty ? nil : sale.items, clientRef: sale.clientRef)
                // Phases (the final one included) arrive through the engine's `.sale` events.
                let result = engine.sell(request, paymentCode: sale.paymentCode)
                if let receipt = result.receipt { inbox.push(.receipt(.success(ReceiptPrint(receipt)), copy: false)) }
            case .lookupOrder(let n):
                inbox.push(.order(engine.order(n)))
            case let .refund(order, amount, pin, ref):
                inbox.push(.refund(engine.refund(order: order, amount: amount, pin: pin, refundRef: ref).result))
            case let .listOrders(cursor, limit):
                inbox.push(.orderList(engine.orders(limit: limit, cursor: cursor)))
            case .reprintReceipt(let n):
                inbox.push(.receipt(engine.reprintReceipt(order: n).map { ReceiptPrint($0.1) }, copy: true))
            case .startCashSale(let sale):
                let request = CreateOrderRequest(amount: sale.amount, currency: sale.currency, items: sale.items.isEmpty ? nil : sale.items,
                                                 clientRef: sale.clientRef)
                let result = engine.sellCash(request, cashGiven: sale.cashGiven)
                inbox.push(.sale(.finished(result.outcome), secondsLeft: nil))
                if let receipt = result.receipt { inbox.push(.receipt(.success(ReceiptPrint(receipt)), copy: false)) }
            case .signIn(let pin):
                inbox.push(.signedIn(engine.signIn(pin: pin)))
            case .signOut:
                inbox.push(.signedOut(engine.signOut()))
            case .checkSupervisor(let pin):
                inbox.push(.supervisorChecked(engine.checkSupervisor(pin: pin)))
            case .shiftReport(let print):
                let result = engine.shiftReport()
                inbox.push(.shift(result))
                if print, case .success(let r) = result {
                    inbox.push(.receipt(.success(ReceiptPrint(engine.printShiftReport(r.report))), copy: true))
                }
            case .openShift(let float):
                inbox.push(.shift(engine.openShift(float: float)))
            case let .closeShift(counted, pin):
                let result = engine.closeShift(counted: counted, supervisorPIN: pin)
                if case .success(let r) = result { engine.printShiftReport(r.report) }
                inbox.push(.shift(result))
            }
        }
        thread.start()
    }

    mutating func pollEvents() -> [BackendEvent] { inbox.drain() }
}

/// Events waiting for the app loop, and how many commands are still running.
private final class Inbox: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var events: [BackendEvent] = []
    private var running = 0

    func push(_ e: BackendEvent) { lock.lock(); events.append(e); lock.unlock() }
    func begin() { lock.lock(); running += 1; lock.unlock() }
    func end() { lock.lock(); running -= 1; lock.unlock() }
    var busy: Bool { lock.lock(); defer { lock.unlock() }; return running > 0 || !events.isEmpty }
    func drain() -> [BackendEvent] { lock.lock(); defer { events = []; lock.unlock() }; return events }
}

extension ReceiptPrint {
    init(_ printing: ReceiptPrinting) {
        switch printing {
        case .printed: self = .printed
        case .noPrinter: self = .noPrinter
        case .failed(let why): self = .failed(why)
        }
    }
}
