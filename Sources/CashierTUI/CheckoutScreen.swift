import CashierCore
import Terminal

/// One line of a sale: an item from the catalogue times a quantity, or a plain amount.
struct SaleLine: Equatable {
    var sku: String?
    var name: String
    var quantity: Int
    var unitPrice: Int64
    /// Taken off the line (minor units).
    var discount: Int64 = 0
    var gross: Int64 { unitPrice * Int64(quantity) }
    var total: Int64 { gross - discount }
}

/// The home screen: enter lines, take the payment code, follow the payment, show the result and receipt.
struct CheckoutScreen: Screen {
    enum Phase: Equatable {
        case entering
        case awaitingCode
        /// Paying; `since` is when the progress arrived, for the countdown.
        case paying(SalePhase, secondsLeft: Int?, since: Double)
        /// A cash sale is being recorded (or kept offline).
        case cashing
        case result(SaleOutcome)
        /// Voiding a sale with parts already paid: the supervisor's PIN is typed.
        case voidPIN
        /// Refunding the paid parts of a voided sale, one after another.
        case voiding(pin: String, left: [OrderView], refunded: Int)
        /// A discount over the limit waits for a supervisor's PIN (typed, then checked).
        case discountPIN(Int64, checking: Bool)
    }

    /// Parts of the sale already paid (split tender), in the order they were paid.
    var paidParts: [OrderView] = []
    /// The amount of the code part being taken (F6), when less than what is due.
    var partAmount: Int64?
    /// The sale's reference once it is paid in parts: every part's order carries it.
    var splitRef: String?
    /// What is still to be paid.
    var due: Int64 { total - paidParts.reduce(0) { $0 + $1.amount } }

    var phase: Phase = .entering
    var lines: [SaleLine] = []
    var input = ""
    var message: Message?
    /// How the input was typed: a scanner's burst is an item code, never an amount.
    var typing = ScanDetector()

    let keymap = KeyMap.checkout
    let titleKey = "title.checkout"
    var total: Int64 { lines.reduce(0) { $0 + $1.total } }
    /// A payment, cash sale or void's refund is out: nothing but help until its answer.
    private var inFlight: Bool {
        switch phase {
        case .paying, .cashing, .voiding: return true
        default: return false
        }
    }
    /// Nor may a sale with parts paid be left: take the rest, or void it.
    var canLeave: Bool { !inFlight && paidParts.isEmpty }

    func accepts(_ c: Character) -> Bool {
        switch phase {
        case .entering: return c.isASCII && (c.isNumber || c == "." || c == "*" || c == "-" || c == "%")
        case .discountPIN(_, let checking): return !checking && c.isASCII && c.isNumber
        case .awaitingCode: return c.isASCII && (c.isNumber || c == ".")
        case .voidPIN: return c.isASCII && c.isNumber
        case .paying, .cashing, .result, .voiding: return false
        }
    }

    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] {
        if input.isEmpty { typing.reset() }
        if input.count < 40 { input.append(c); typing.typed(at: context.keyTime) }
        message = nil
        return []
    }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        if inFlight {
            switch request {
            case .help: return nil
            default:
                message = .error(s["checkout.cannotLeave"])
                return []
            }
        }
        switch request {
        case .confirm: return confirm(context)
        case .back:
            switch phase {
            case .entering: input = ""; message = nil
            case .awaitingCode:
                if paidParts.isEmpty { phase = .entering } else { message = .error(s["checkout.partsPaid"]) }
                input = ""; partAmount = nil
            case .voidPIN: phase = .awaitingCode; input = ""; message = nil
            case .discountPIN: phase = .entering; input = ""; message = .info(s["checkout.discountCancelled"])
            case .result(let outcome): finish(outcome, s)
            case .paying, .cashing, .voiding: break
            }
            return []
        case .deleteBackward:
            if !input.isEmpty { input.removeLast() }
            else if phase == .entering, !lines.isEmpty { lines.removeLast() }
            return []
        case .clearInput:
            input = ""
            return []
        case .voidSale:
            guard phase == .entering || phase == .awaitingCode else { return [] }
            if !paidParts.isEmpty {
                // Money was taken: only a supervisor may void, and the paid parts are refunded.
                phase = .voidPIN
                input = ""
                message = .info(s["checkout.voidNeedsSupervisor", paidParts.count])
                return []
            }
            self = CheckoutScreen()
            message = .info(s["checkout.voided"])
            return []
        case .payPart:
            return payPart(context)
        case .signOut:
            guard phase == .entering, lines.isEmpty else { message = .error(s["checkout.finishFirst"]); return [] }
            return [.send(.signOut)]
        case .reprintReceipt:
            switch phase {
            case .result(.paid(let order)): return [.send(.reprintReceipt(order.orderNo))]
            case .entering where lines.isEmpty && input.isEmpty: return [.send(.reprintReceipt(nil))]
            default:
                message = .error(s["checkout.finishFirst"])
                return []
            }
        case .payCash:
            return payCash(context)
        case .openRefund, .openOrders, .openShift:
            guard phase == .entering, lines.isEmpty else {
                message = .error(s["checkout.finishFirst"])
                return []
            }
            if request == .openRefund { return [.push(RefundScreen())] }
            if request == .openShift { return ShiftScreen.open() }
            return OrdersScreen.open()
        default:
            return nil
        }
    }

    private mutating func confirm(_ context: ScreenContext) -> [Effect] {
        let s = context.strings
        switch phase {
        case .entering:
            if input.isEmpty {
                if lines.isEmpty { message = .error(s["checkout.enterSomething"]); return [] }
                phase = .awaitingCode
                message = nil
                return []
            }
            if typing.isScan(endedAt: context.keyTime) {
                // A barcode scanned into the line field names an item; a code that is not one (a customer's
                // payment code scanned too early, a receipt's order number) must never become an amount.
                let scanned = input
                input = ""
                typing.reset()
                guard let item = context.catalog(scanned) else {
                    message = .error(s["checkout.scanNotItem", scanned])
                    return []
                }
                lines.append(SaleLine(sku: item.sku ?? scanned, name: item.name, quantity: 1, unitPrice: item.unitPrice))
                message = nil
                return []
            }
            if input.hasPrefix("-") {
                let text = input
                input = ""
                return discount(text, context)
            }
            if input.hasPrefix("*"), !lines.isEmpty {
                // `*3`: the last line's quantity becomes 3 (its discount goes if the line is now smaller).
                guard let qty = Int(input.dropFirst()), (1...9999).contains(qty) else { message = .error(s["checkout.badQuantity"]); return [] }
                lines[lines.count - 1].quantity = qty
                if lines[lines.count - 1].discount > lines[lines.count - 1].gross { lines[lines.count - 1].discount = 0 }
                input = ""
                message = nil
                return []
            }
            if let line = parseLine(input, context) {
                lines.append(line)
                input = ""
                typing.reset()
                message = nil
            }
            return []
        case .awaitingCode:
            guard input.count >= 10, input.allSatisfy(\.isNumber) else { message = .error(s["checkout.codeTooShort"]); return [] }
            let amount = partAmount ?? due
            let split = amount != total
            if split, splitRef == nil { splitRef = "SPLIT\(Int64(context.now * 1000) % 1_000_000_000_000)" }
            let sale = SaleRequest(amount: amount, currency: context.currency, items: split ? [] : saleItems, paymentCode: input,
                                   clientRef: split ? splitRef : nil)
            input = ""
            message = nil
            phase = .paying(.creating, secondsLeft: nil, since: context.now)
            return [.send(.startSale(sale))]
        case .voidPIN:
            guard PINHash.isValidPIN(input) else { message = .error(s["checkout.pinForm"]); return [] }
            let pin = input
            input = ""
            return startVoid(pin: pin, left: paidParts, refunded: 0)
        case .voiding:
            return []
        case .discountPIN(let discount, let checking):
            guard !checking else { return [] }
            guard PINHash.isValidPIN(input) else { message = .error(s["checkout.pinForm"]); return [] }
            let pin = input
            input = ""
            phase = .discountPIN(discount, checking: true)
            return [.send(.checkSupervisor(pin: pin))]
        case .result(let outcome):
            finish(outcome, s)
            return []
        case .paying, .cashing:
            return []
        }
    }

    private var saleItems: [OrderItem] {
        lines.map { OrderItem(sku: $0.sku, name: $0.name, quantity: $0.quantity, unitPrice: $0.unitPrice,
                              discount: $0.discount > 0 ? $0.discount : nil) }
    }

    /// `-10%` or `-2.00` typed on the line field: a discount on the last line (replacing one it had). Above
    /// `discountLimitPercent` of the line a supervisor's PIN is asked for first.
    private mutating func discount(_ text: String, _ context: ScreenContext) -> [Effect] {
        let s = context.strings
        guard let last = lines.last else { message = .error(s["checkout.discountNoLine"]); return [] }
        let body = String(text.dropFirst())
        var off: Int64?
        if body.hasSuffix("%"), let percent = Int(body.dropLast()), (1...100).contains(percent) {
            off = last.gross * Int64(percent) / 100
        } else if !body.contains("%"), let money = try? Money.parse(body), money.minorUnits > 0 {
            off = money.minorUnits
        }
        guard let off, off <= last.gross else { message = .error(s["checkout.discountForm"]); return [] }
        if off * 100 > last.gross * Int64(context.status.discountLimitPercent) {
            phase = .discountPIN(off, checking: false)
            message = .info(s["checkout.discountNeedsSupervisor", Format.money(off, context.currency), context.status.discountLimitPercent])
            return []
        }
        lines[lines.count - 1].discount = off
        message = .success(s["checkout.discounted", Format.money(off, context.currency)])
        return []
    }

    /// The cash tender key: the amount typed is what the customer handed over (nothing typed: exact cash)
    /// for all that is due.
    private mutating func payCash(_ context: ScreenContext) -> [Effect] {
        let s = context.strings
        guard phase == .entering || phase == .awaitingCode, !lines.isEmpty else {
            message = .error(s["checkout.enterSomething"])
            return []
        }
        var given: Int64?
        if !input.isEmpty {
            guard let money = try? Money.parse(input), money.minorUnits >= due else {
                message = .error(s["checkout.cashTooLittle", Format.money(due, context.currency)])
                return []
            }
            given = money.minorUnits
        }
        let split = !paidParts.isEmpty
        input = ""
        message = nil
        partAmount = nil
        phase = .cashing
        return [.send(.startCashSale(CashSaleRequest(amount: due, currency: context.currency, items: split ? [] : saleItems,
                                                     cashGiven: given, clientRef: split ? splitRef : nil)))]
    }

    /// The split key: the amount typed is taken by payment code now, the rest after (by code or cash).
    private mutating func payPart(_ context: ScreenContext) -> [Effect] {
        let s = context.strings
        guard phase == .entering || phase == .awaitingCode, !lines.isEmpty else {
            message = .error(s["checkout.enterSomething"])
            return []
        }
        guard let money = try? Money.parse(input), money.minorUnits > 0, money.minorUnits < due else {
            message = .error(s["checkout.partForm", Format.money(due, context.currency)])
            return []
        }
        partAmount = money.minorUnits
        input = ""
        phase = .awaitingCode
        message = .info(s["checkout.partPrompt", Format.money(money.minorUnits, context.currency)])
        return []
    }

    /// Refunds the next paid part of a sale being voided, or ends the void.
    private mutating func startVoid(pin: String, left: [OrderView], refunded: Int) -> [Effect] {
        guard let next = left.first else {
            self = CheckoutScreen()
            return []
        }
        phase = .voiding(pin: pin, left: left, refunded: refunded)
        return [.send(.refund(order: next.orderNo, amount: next.amount, pin: pin, refundRef: "VOID\(next.orderNo.digits)"))]
    }

    /// After a result: a paid (or unknown) sale starts a new one; a failed one may be paid with another code.
    private mutating func finish(_ outcome: SaleOutcome, _ s: Strings) {
        switch outcome {
        case .paid, .needsAttention, .storedOffline:
            self = CheckoutScreen()
        case .declined, .notPaid:
            phase = .awaitingCode
            input = ""
            message = .info(s["checkout.tryAgain"])
        }
    }

    /// `code*qty`, a catalogue code, or an amount such as `12.50`.
    private mutating func parseLine(_ text: String, _ context: ScreenContext) -> SaleLine? {
        let s = context.strings
        let parts = text.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            guard let qty = Int(parts[1]), (1...9999).contains(qty) else { message = .error(s["checkout.badQuantity"]); return nil }
            guard let item = context.catalog(parts[0]) else { message = .error(s["checkout.unknownItem", parts[0]]); return nil }
            return SaleLine(sku: item.sku ?? parts[0], name: item.name, quantity: qty, unitPrice: item.unitPrice)
        }
        guard parts.count == 1 else { message = .error(s["checkout.badLine"]); return nil }
        if let item = context.catalog(text) {
            return SaleLine(sku: item.sku ?? text, name: item.name, quantity: 1, unitPrice: item.unitPrice)
        }
        guard let money = try? Money.parse(text), money.minorUnits > 0 else { message = .error(s["checkout.badLine"]); return nil }
        guard total + money.minorUnits <= Money.maximumMinorUnits else { message = .error(s["checkout.badLine"]); return nil }
        return SaleLine(sku: nil, name: s["checkout.amountLine"], quantity: 1, unitPrice: money.minorUnits)
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        if case .signedOut(let who) = event {
            message = .info(who.map { context.strings["checkout.signedOut", $0.name] } ?? context.strings["checkout.nobodySignedIn"])
            return []
        }
        if case let .receipt(result, copy) = event {
            // A sale's own receipt that printed says nothing, and leaves what the screen says as it is.
            if let said = Receipt.message(result, copy: copy, context.strings) { message = said }
            return []
        }
        if case let .discountPIN(off, true) = phase, case .supervisorChecked(let result) = event {
            phase = .entering
            switch result {
            case .success(let supervisor):
                lines[lines.count - 1].discount = off
                message = .success(context.strings["checkout.discountedBy", Format.money(off, context.currency), supervisor.name])
            case .failure(let e):
                message = .error(Format.error(e, context.strings))
            }
            return []
        }
        if case let .voiding(pin, left, refunded) = phase, case .refund(let result) = event {
            switch result {
            case .success:
                let rest = Array(left.dropFirst())
                if rest.isEmpty {
                    self = CheckoutScreen()
                    message = .info(context.strings["checkout.voidedRefunded", refunded + 1])
                    return []
                }
                return startVoid(pin: pin, left: rest, refunded: refunded + 1)
            case .failure(let e):
                // What was refunded stays refunded; the rest is still paid: the sale stays open to try again.
                paidParts = Array(left)
                phase = .awaitingCode
                message = .error(Format.error(e, context.strings))
                return []
            }
        }
        if inFlight, case .sale(.finished(.paid(let view)), _) = event, view.amount < due {
            // A part of a split sale: what is left is taken next.
            paidParts.append(view)
            partAmount = nil
            phase = .awaitingCode
            message = .success(context.strings["checkout.partPaid", Format.money(view.amount, view.currency),
                                               Format.money(due, view.currency)])
            return []
        }
        if phase == .cashing, case .sale(.finished(let outcome), _) = event {
            phase = .result(outcome)
            message = nil
            return []
        }
        guard case .paying = phase else { return [] }
        switch event {
        case .sale(.finished(let outcome), _): phase = .result(outcome); message = nil
        case .sale(let p, let left): phase = .paying(p, secondsLeft: left, since: context.now)
        default: break
        }
        return []
    }

    // MARK: Drawing

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        switch phase {
        case .entering, .awaitingCode: renderLines(into: &b, area: area, context)
        case .paying(let p, let left, let since): renderPaying(p, secondsLeft: left, since: since, into: &b, area: area, context)
        case .cashing:
            b.write(context.strings["checkout.cashing", Format.money(due, context.currency)], row: area.top + 1, column: area.left + 2,
                    style: CellStyle(.bold, color: .cyan))
        case .voidPIN, .voiding, .discountPIN: renderLines(into: &b, area: area, context)
        case .result(let outcome): renderResult(outcome, into: &b, area: area, context)
        }
    }

    private func renderLines(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        b.write(SaleTable.header(s), row: area.top, column: x, style: .bold)
        let room = area.rows - 6
        let shown = lines.suffix(room)
        var row = area.top + 1
        if lines.count > shown.count {
            b.write(s["checkout.moreLines", lines.count - shown.count], row: row, column: x, style: .dim); row += 1
        }
        for line in shown {
            b.write(SaleTable.row(name: line.name, quantity: line.quantity, unit: line.unitPrice, total: line.gross),
                    row: row, column: x)
            row += 1
            if line.discount > 0 {
                b.write(SaleTable.discountRow(line.discount, s), row: row, column: x, style: .dim)
                row += 1
            }
        }
        row = area.top + area.rows - 4
        b.write(String(repeating: "─", count: SaleTable.width), row: row, column: x)
        b.write(DisplayWidth.fit(s["checkout.total"], to: SaleTable.width - 16)
                + DisplayWidth.fit(Format.money(total, context.currency), to: 16, alignRight: true),
                row: row + 1, column: x, style: .bold)
        var prompt: String
        switch phase {
        case .voidPIN, .voiding: prompt = s["checkout.voidPrompt"]
        case .discountPIN: prompt = s["checkout.discountPrompt"]
        case .entering: prompt = s["checkout.promptLine"]
        default: prompt = s["checkout.promptCode", Format.money(partAmount ?? due, context.currency)]
        }
        if !paidParts.isEmpty {
            let paid = paidParts.map { "\($0.isCash ? s["tender.cash"] : s["tender.code"]) \(Format.amount($0.amount))" }.joined(separator: ", ")
            b.write(s["checkout.partsLine", paid, Format.money(due, context.currency)], row: row + 2, column: x, style: .bold)
        } else if !lines.isEmpty {
            b.write(s["checkout.cashHint"], row: row + 2, column: x, style: .dim)
        }
        var masked = phase == .voidPIN
        if case .discountPIN = phase { masked = true }
        let field = masked ? String(repeating: "•", count: input.count) : input
        let used = b.write(prompt + " ", row: row + 3, column: x, style: .bold)
        b.write(Format.field(field), row: row + 3, column: x + used)
    }

    private func renderPaying(_ progress: SalePhase, secondsLeft: Int?, since: Double, into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        b.write(s["checkout.paying", Format.money(total, context.currency)], row: area.top + 1, column: x, style: CellStyle(.bold, color: .cyan))
        let text: String
        switch progress {
        case .creating, .finished: text = s["progress.creating"]
        case .paying: text = s["progress.submitting"]
        case .waitingForCustomer: text = s["progress.waiting"]
        case .querying: text = s["progress.checking"]
        case .reversing: text = s["progress.reversing"]
        }
        let countdown = secondsLeft.map { " " + s["progress.seconds", max(0, $0 - Int(context.now - since))] } ?? ""
        b.write(text + countdown, row: area.top + 3, column: x, style: .bold)
        if let order = SaleTable.orderNumber(progress) {
            b.write(s["checkout.orderNo", order], row: area.top + 5, column: x)
        }
        b.write(s["checkout.doNotLeave"], row: area.top + 7, column: x, style: .dim)
    }

    private func renderResult(_ outcome: SaleOutcome, into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        let banner: String
        let color: TextColor
        var order: OrderView?
        switch outcome {
        case .paid(let o):
            banner = s["result.paid", Format.money(o.amount, o.currency)]; color = .green; order = o
        case .storedOffline(let o):
            banner = s["result.storedOffline", Format.money(o.amount, o.currency)]; color = .yellow; order = o
        case .declined(let reason):
            banner = s["result.declined", Format.reason(reason, s)]; color = .red
        case .notPaid(let reversed, let reason):
            banner = reversed ? s["result.notPaid"] : s["result.failed", Format.reason(reason, s)]; color = .yellow
        case .needsAttention(let n, _):
            banner = s["result.unknown", n.map(\.digits) ?? "?"]; color = .magenta
        }
        b.fill(row: area.top, column: x, width: area.columns - 4, style: CellStyle([.reverse, .bold], color: color))
        b.write(" " + banner, row: area.top, column: x, style: CellStyle([.reverse, .bold], color: color), width: area.columns - 4)
        var top = area.top + 2
        if let order, order.isCash {
            let change = order.change ?? 0
            // The change, large: what the cashier hands back.
            let text = "  " + s["result.change", Format.money(change, order.currency)] + "  "
            b.fill(row: top, column: x, width: DisplayWidth.of(text), style: CellStyle([.reverse, .bold], color: .cyan))
            b.write(text, row: top, column: x, style: CellStyle([.reverse, .bold], color: .cyan))
            top += 2
        }
        if let order {
            let receipt = Receipt.lines(order: order, store: context.status.store, strings: s)
            for (i, line) in receipt.prefix(max(0, area.rows - 1 - (top - area.top))).enumerated() {
                b.write(line, row: top + i, column: x)
            }
        }
        b.write(s["checkout.next"], row: area.top + area.rows - 1, column: x, style: .dim)
    }
}

/// Column layout of sale lines, shared by the checkout and the receipt; widths are display columns.
enum SaleTable {
    static let nameWidth = 30
    static let width = nameWidth + 6 + 12 + 14

    static func header(_ s: Strings) -> String {
        DisplayWidth.fit(s["column.item"], to: nameWidth) + DisplayWidth.fit(s["column.qty"], to: 6, alignRight: true)
            + DisplayWidth.fit(s["column.price"], to: 12, alignRight: true) + DisplayWidth.fit(s["column.amount"], to: 14, alignRight: true)
    }

    static func row(name: String, quantity: Int, unit: Int64, total: Int64) -> String {
        DisplayWidth.fit(name, to: nameWidth) + DisplayWidth.fit(String(quantity), to: 6, alignRight: true)
            + DisplayWidth.fit(Format.amount(unit), to: 12, alignRight: true)
            + DisplayWidth.fit(Format.amount(total), to: 14, alignRight: true)
    }

    /// The row under a discounted line.
    static func discountRow(_ discount: Int64, _ s: Strings) -> String {
        DisplayWidth.fit("  " + s["checkout.discountLine"], to: nameWidth + 18) + DisplayWidth.fit("-" + Format.amount(discount), to: 14, alignRight: true)
    }

    static func orderNumber(_ p: SalePhase) -> OrderNumber? {
        switch p {
        case .creating, .finished: return nil
        case .paying(let n), .waitingForCustomer(let n), .querying(let n), .reversing(let n, _): return n
        }
    }
}

/// The text receipt of an order.
enum Receipt {
    /// What the cashier is told about a receipt sent to the printer: nothing when a sale's own receipt
    /// printed (or there is no printer), a warning when it did not, and how a reprint went.
    static func message(_ result: Result<ReceiptPrint, APIError>, copy: Bool, _ s: Strings) -> Message? {
        switch result {
        case .failure(let e): return .error(Format.error(e, s))
        case .success(.printed): return copy ? .info(s["receipt.reprinted"]) : nil
        case .success(.noPrinter): return copy ? .error(s["receipt.noPrinter"]) : nil
        case .success(.failed(let why)): return .error(s[copy ? "receipt.notPrinted" : "receipt.saleNotPrinted", why])
        }
    }

    static func lines(order: OrderView, store: StoreInfo?, strings s: Strings) -> [String] {
        var out: [String] = []
        if let store { out.append("\(store.merchantName) · \(store.storeName)") }
        out.append(s["receipt.order", order.orderNo])
        out.append(s["receipt.time", Format.time(order.paidAt ?? order.updatedAt, store), StoreTime(store: store).identifier])
        out.append(SaleTable.header(s))
        for item in order.items {
            out.append(SaleTable.row(name: item.name, quantity: item.quantity, unit: item.unitPrice,
                                     total: item.unitPrice * Int64(item.quantity)))
            if let discount = item.discount, discount > 0 { out.append(SaleTable.discountRow(discount, s)) }
        }
        out.append(DisplayWidth.fit(s["checkout.total"], to: SaleTable.width - 16)
                   + DisplayWidth.fit(Format.money(order.amount, order.currency), to: 16, alignRight: true))
        out.append(s["receipt.status", Format.status(order.status, s)])
        if let txn = order.channelTxn { out.append(s["receipt.txn", txn]) }
        return out
    }
}
