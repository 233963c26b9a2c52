import CashierCore
import Foundation

/// Refund: order number → order state and refundable amount → amount → supervisor PIN (masked) → confirm.
struct RefundScreen: Screen {
    enum Phase: Equatable {
        case orderNumber, loading, amount, pin, confirm, submitting
        case done(RefundView)
    }
    var phase: Phase = .orderNumber
    var input = ""
    var order: OrderView?
    var amount: Int64 = 0
    var pin = ""
    /// Chosen once per refund and reused on every retry, so a retry never refunds twice.
    var refundRef: String?
    var message: Message?

    let keymap = KeyMap.refund
    let titleKey = "title.refund"
    var canLeave: Bool { phase != .submitting }

    init() {}

    /// Starts at the amount, for an order already looked up.
    init(order: OrderView) {
        self.order = order
        phase = .amount
    }

    func accepts(_ c: Character) -> Bool {
        guard c.isASCII else { return false }
        switch phase {
        case .orderNumber, .pin: return c.isNumber
        case .amount: return c.isNumber || c == "."
        default: return false
        }
    }

    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] {
        if phase == .pin { if pin.count < 12 { pin.append(c) } }
        else if input.count < 30 { input.append(c) }
        message = nil
        return []
    }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        switch request {
        case .confirm: return confirm(s)
        case .back where phase == .submitting:
            message = .error(s["refund.cannotLeave"])
            return []
        case .quit where phase == .submitting:
            message = .error(s["refund.cannotLeave"])
            return []
        case .deleteBackward:
            if phase == .pin { if !pin.isEmpty { pin.removeLast() } } else if !input.isEmpty { input.removeLast() }
            return []
        case .clearInput:
            if phase == .pin { pin = "" } else { input = "" }
            return []
        default:
            return nil
        }
    }

    private mutating func confirm(_ s: Strings) -> [Effect] {
        switch phase {
        case .orderNumber:
            guard let number = OrderNumber(input) else { message = .error(s["refund.badNumber"]); return [] }
            phase = .loading
            message = .info(s["refund.loading"])
            return [.send(.lookupOrder(number))]
        case .amount:
            guard let order else { return [] }
            guard order.refundable > 0 else { message = .error(s["refund.nothing"]); return [] }
            let value: Int64
            if input.isEmpty { value = order.refundable }
            else if let m = try? Money.parse(input), m.minorUnits > 0 { value = m.minorUnits }
            else { message = .error(s["refund.badAmount"]); return [] }
            guard value <= order.refundable else {
                message = .error(s["refund.tooMuch", Format.money(order.refundable, order.currency)]); return []
            }
            if value != amount { refundRef = nil }
            amount = value
            input = ""
            phase = .pin
            message = nil
            return []
        case .pin:
            guard (4...12).contains(pin.count) else { message = .error(s["refund.badPin"]); return [] }
            phase = .confirm
            message = nil
            return []
        case .confirm:
            guard let order else { return [] }
            let ref = refundRef ?? "TR" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20)
            refundRef = ref
            phase = .submitting
            message = .info(s["refund.working"])
            return [.send(.refund(order: order.orderNo, amount: amount, pin: pin, refundRef: ref))]
        case .done:
            self = RefundScreen()
            return []
        case .loading, .submitting:
            return []
        }
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        let s = context.strings
        switch (event, phase) {
        case (.order(.success(let o)), .loading):
            order = o
            phase = .amount
            input = ""
            message = o.refundable > 0 ? nil : .error(s["refund.nothing"])
        case (.order(.failure(let e)), .loading):
            phase = .orderNumber
            message = .error(Format.error(e, s))
        case (.refund(.success(let r)), .submitting):
            phase = .done(r)
            pin = ""
            message = .success(r.status == .succeeded ? s["refund.succeeded"] : s["refund.pending"])
        case (.refund(.failure(let e)), .submitting):
            switch e.code {
            case .pinInvalid, .pinNotSupervisor:
                phase = .pin; pin = ""
            case .refundExceedsPaid, .amountInvalid:
                phase = .amount; refundRef = nil
            default:
                phase = .confirm
            }
            message = .error(Format.error(e, s) + (e.retryable ? " " + s["refund.retry"] : ""))
        default:
            break
        }
        return []
    }

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        var row = area.top + 1
        func field(_ label: String, _ value: String, active: Bool) {
            let used = b.write(label + " ", row: row, column: x, style: .bold)
            b.write(active ? Format.field(value) : value, row: row, column: x + used)
            row += 1
        }
        field(s["refund.orderNumber"], order?.orderNo.digits ?? input, active: phase == .orderNumber)
        guard let order else { return }
        row += 1
        b.write(s["refund.orderState", Format.status(order.status, s), Format.money(order.amount, order.currency),
                  Format.amount(order.refundedAmount)], row: row, column: x)
        row += 1
        b.write(s["refund.refundable", Format.money(order.refundable, order.currency)], row: row, column: x, style: .bold)
        row += 2
        guard phase != .loading else { return }
        let amountText = phase == .amount ? input : Format.amount(amount)
        field(s["refund.amount"], amountText, active: phase == .amount)
        if phase == .amount { b.write(s["refund.amountHint"], row: row, column: x, style: .dim); row += 1 }
        guard phase != .amount else { return }
        if case .done = phase {} else { field(s["refund.pin"], String(repeating: "*", count: pin.count), active: phase == .pin) }
        row += 1
        switch phase {
        case .confirm, .submitting:
            b.write(s["refund.confirm", Format.money(amount, order.currency), order.orderNo], row: row, column: x, style: .bold)
        case .done(let r):
            let key = r.status == .succeeded ? "refund.doneSucceeded" : "refund.donePending"
            b.write(s[key, Format.money(r.amount, r.currency), r.refundNo], row: row, column: x,
                    style: CellStyle([.bold, .reverse], color: r.status == .succeeded ? .green : .yellow))
        default:
            break
        }
    }
}
