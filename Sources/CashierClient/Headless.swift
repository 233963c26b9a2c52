import CashierCore
import Foundation

/// `cashier --headless`: one JSON command per input line, one JSON event per output line.
///
/// Commands run one at a time, in order, on a queue of their own while events keep streaming; every
/// output line is written whole, under a lock. docs/HEADLESS.md lists the protocol.
public final class HeadlessSession: @unchecked Sendable {
    // @unchecked: `running` is guarded by `lock`; the writer is called under `lock`.
    private let engine: CashierEngine
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private let group = DispatchGroup()
    /// Commands run one after another, in input order, so a script reads like a session at the till.
    private let commands = DispatchQueue(label: "cashier-headless-commands")
    private var subscription: Int?

    public init(engine: CashierEngine, write: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.write = write
    }

    /// Sends `ready`, subscribes to engine events, starts probing and resumes unfinished sales.
    public func begin() {
        let urls = engine.configuration.domains
        emit(["event": "ready", "domains": urls, "activated": engine.credentials != nil,
              "device_id": engine.credentials?.deviceId as Any? ?? NSNull()])
        subscription = engine.subscribe { [weak self] e in self?.emit(Reporting.event(e, urls: urls)) }
        engine.start()
        run(command: "resume", id: nil) { [engine] in
            let results = engine.resumeUnfinishedSales()
            return ["resumed": results.map { r in Reporting.outcome(r.outcome).merging(["sale": r.id]) { a, _ in a } }]
        }
    }

    /// Waits for every command still running, then says goodbye.
    public func finish() {
        group.wait()
        if let subscription { engine.unsubscribe(subscription) }
        emit(["event": "bye"])
    }

    private func emit(_ object: [String: Any]) {
        let text = Reporting.line(object)
        lock.lock(); write(text); lock.unlock()
    }

    private func fail(_ command: String, id: Any?, _ e: APIError) {
        emit(Reporting.error(e).merging(["event": "error", "cmd": command, "id": id ?? NSNull()]) { a, _ in a })
    }

    /// Runs `body` on a thread of its own; a returned dictionary becomes a `result` event, a thrown APIError an `error`.
    private func run(command: String, id: Any?, _ body: @escaping @Sendable () throws(APIError) -> [String: Any]) {
        group.enter()
        let idBox = SendableAny(id)
        commands.async { [self] in
            defer { group.leave() }
            do throws(APIError) {
                let fields = try body()
                var o: [String: Any] = ["event": "result", "cmd": command, "id": idBox.value ?? NSNull()]
                o.merge(fields) { _, new in new }
                if o["exit_code"] == nil { o["exit_code"] = 0 }
                emit(o)
            } catch {
                fail(command, id: idBox.value, error)
            }
        }
    }

    /// Handles one input line. Returns false when the session should end (`quit`).
    public func handle(line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return true }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any],
              let cmd = object["cmd"] as? String else {
            fail("?", id: nil, APIError(.badInput, detail: "each line must be a JSON object with a \"cmd\""))
            return true
        }
        let id = object["id"]
        let args = SendableAny(object)
        let engine = self.engine
        func string(_ key: String) -> String? {
            if let s = object[key] as? String { return s }
            if let n = object[key] as? NSNumber { return n.stringValue }
            return nil
        }
        switch cmd {
        case "quit":
            return false
        case "status":
            run(command: cmd, id: id) { ["status": Reporting.status(engine.statusAfterProbe())] }
        case "activate":
            guard let code = string("code") else { fail(cmd, id: id, APIError(.badInput, detail: "activate needs \"code\"")); return true }
            let deviceName = string("device_name")
            run(command: cmd, id: id) { () throws(APIError) in
                let creds = try engine.activate(code: code, deviceName: deviceName).get()
                return ["device_id": creds.deviceId, "store": Reporting.object(creds.store)]
            }
        case "pay":
            do throws(APIError) {
                let currency = engine.credentials?.store.currency ?? Money.defaultCurrency
                let request = try CommandInput.orderRequest(amount: string("amount"), amountMinor: (object["amount_minor"] as? NSNumber)?.int64Value,
                                                            items: object["items"], currency: currency, clientRef: string("sale_ref"))
                guard let code = string("code") else { throw APIError(.badInput, detail: "pay needs the customer's payment \"code\"") }
                run(command: cmd, id: id) { () throws(APIError) in
                    if engine.credentials == nil { throw APIError(.notActivated) }
                    if let unreachable = engine.reachability() { throw unreachable }
                    let result = engine.sell(request, paymentCode: code)
                    return Reporting.sale(result)
                }
            } catch { fail(cmd, id: id, error) }
        case "refund":
            do throws(APIError) {
                let order = try CommandInput.orderNumber(string("order"))
                let currency = engine.credentials?.store.currency ?? Money.defaultCurrency
                let amount = try CommandInput.amount(string("amount"), currency: currency)
                guard let pin = string("pin") else { throw APIError(.badInput, detail: "refund needs a supervisor \"pin\"") }
                let ref = string("ref")
                run(command: cmd, id: id) { () throws(APIError) in
                    let (usedRef, result) = engine.refund(order: order, amount: amount, pin: pin, refundRef: ref)
                    switch result {
                    case .success(let view): return ["ref": usedRef, "refund": Reporting.object(view)]
                    case .failure(let e):
                        var err = e
                        err.detail = (e.detail.map { $0 + "; " } ?? "") + "refund reference \(usedRef)"
                        throw err
                    }
                }
            } catch { fail(cmd, id: id, error) }
        case "order":
            do throws(APIError) {
                let order = try CommandInput.orderNumber(string("order"))
                run(command: cmd, id: id) { () throws(APIError) in ["order": Reporting.object(try engine.order(order).get())] }
            } catch { fail(cmd, id: id, error) }
        case "sign_in":
            guard let pin = string("pin") else { fail(cmd, id: id, APIError(.badInput, detail: "sign_in needs the staff \"pin\"")); return true }
            run(command: cmd, id: id) { () throws(APIError) in ["staff": Reporting.object(try engine.signIn(pin: pin).get())] }
        case "sign_out":
            run(command: cmd, id: id) { ["signed_out": engine.signOut().map { Reporting.object($0) } ?? NSNull()] }
        case "receipt":
            do throws(APIError) {
                var number: OrderNumber?
                if let text = string("order") { number = try CommandInput.orderNumber(text) }
                let order = number
                run(command: cmd, id: id) { () throws(APIError) in
                    let (view, printing) = try engine.reprintReceipt(order: order).get()
                    return ["order_no": view.orderNo.digits, "copy": true].merging(Reporting.receipt(printing)) { a, _ in a }
                }
            } catch { fail(cmd, id: id, error) }
        case "orders":
            let limit = ((args.value as? [String: Any])?["limit"] as? NSNumber)?.intValue ?? 20
            let cursor = string("cursor")
            run(command: cmd, id: id) { () throws(APIError) in
                let page = try engine.orders(limit: limit, cursor: cursor).get()
                return (Reporting.object(page) as? [String: Any]) ?? [:]
            }
        case "cash":
            do throws(APIError) {
                let currency = engine.credentials?.store.currency ?? Money.defaultCurrency
                let request = try CommandInput.orderRequest(amount: string("amount"), amountMinor: (object["amount_minor"] as? NSNumber)?.int64Value,
                                                            items: object["items"], currency: currency, clientRef: string("sale_ref"))
                let given = try string("given").map { (t: String) throws(APIError) in try CommandInput.amount(t, currency: currency) }
                run(command: cmd, id: id) { () throws(APIError) in
                    if engine.credentials == nil { throw APIError(.notActivated) }
                    _ = engine.statusAfterProbe()
                    let result = engine.sellCash(request, cashGiven: given)
                    return Reporting.sale(result)
                }
            } catch { fail(cmd, id: id, error) }
        case "forward":
            run(command: cmd, id: id) {
                let results = engine.forwardStoredSales()
                return ["forwarded": results.map { r in Reporting.outcome(r.outcome).merging(["sale": r.id]) { a, _ in a } },
                        "waiting": engine.cashSalesToForward]
            }
        case "shift_open":
            do throws(APIError) {
                let currency = engine.credentials?.store.currency ?? Money.defaultCurrency
                let float = try CommandInput.amount(string("float"), currency: currency, zeroAllowed: true)
                run(command: cmd, id: id) { () throws(APIError) in shiftFields(try engine.openShift(float: float).get()) }
            } catch { fail(cmd, id: id, error) }
        case "shift_report":
            let shift = string("shift")
            let print = object["print"] as? Bool ?? false
            run(command: cmd, id: id) { () throws(APIError) in
                let r = try engine.shiftReport(id: shift).get()
                var o = shiftFields(r)
                if print { o.merge(Reporting.receipt(engine.printShiftReport(r.report))) { a, _ in a } }
                return o
            }
        case "shift_close":
            do throws(APIError) {
                let currency = engine.credentials?.store.currency ?? Money.defaultCurrency
                let counted = try CommandInput.amount(string("counted"), currency: currency, zeroAllowed: true)
                let pin = string("supervisor_pin")
                run(command: cmd, id: id) { () throws(APIError) in
                    let r = try engine.closeShift(counted: counted, supervisorPIN: pin).get()
                    return shiftFields(r).merging(Reporting.receipt(engine.printShiftReport(r.report))) { a, _ in a }
                }
            } catch { fail(cmd, id: id, error) }
        case "resume":
            run(command: cmd, id: id) {
                ["resumed": engine.resumeUnfinishedSales().map { r in Reporting.outcome(r.outcome).merging(["sale": r.id]) { a, _ in a } }]
            }
        default:
            fail(cmd, id: id, APIError(.badInput, detail: "unknown command \(cmd)"))
        }
        return true
    }
}

/// A shift answer as result fields: `shift` and `report`.
private func shiftFields(_ r: ShiftResponse) -> [String: Any] {
    (Reporting.object(r) as? [String: Any]) ?? [:]
}

/// Boxes a JSON value (always plain property-list data) to hand it to another thread.
private struct SendableAny: @unchecked Sendable {
    // @unchecked: holds only immutable JSON values (strings, numbers, arrays, dictionaries).
    let value: Any?
    init(_ value: Any?) { self.value = value }
}

/// Checks and converts what people and scripts type.
public enum CommandInput {
    /// - Parameter zeroAllowed: 0 is an amount (a float, counted cash); otherwise it must be above zero.
    public static func amount(_ text: String?, currency: String, zeroAllowed: Bool = false) throws(APIError) -> Int64 {
        guard let text, !text.isEmpty else { throw APIError(.badInput, detail: "an amount is needed, e.g. 12.34") }
        do {
            let money = try Money.parse(text, currency: currency)
            guard money.minorUnits > 0 || zeroAllowed && money.minorUnits == 0 else {
                throw APIError(.badInput, detail: "the amount must be above zero")
            }
            return money.minorUnits
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError(.badInput, detail: "\(text) is not an amount: \(error)")
        }
    }

    public static func orderNumber(_ text: String?) throws(APIError) -> OrderNumber {
        guard let text, let n = OrderNumber(text.trimmingCharacters(in: .whitespaces)) else {
            throw APIError(.badInput, detail: "an order number is \(OrderNumber.length) digits as printed on the receipt")
        }
        return n
    }

    /// An order from an amount (decimal text or minor units) and optional items (a JSON array, or its text).
    /// - Parameter clientRef: the sale's own reference (the parts of a split sale share one).
    public static func orderRequest(amount: String?, amountMinor: Int64?, items: Any?, currency: String,
                                    clientRef: String? = nil) throws(APIError) -> CreateOrderRequest {
        if let clientRef, let problem = TextField.problem(clientRef, field: "the sale reference", maxCodePoints: 64) {
            throw APIError(.badInput, detail: problem)
        }
        var parsedItems: [OrderItem]?
        if let items, !(items is NSNull) {
            let data: Data
            if let text = items as? String { data = Data(text.utf8) } else {
                guard let d = try? JSONSerialization.data(withJSONObject: items) else { throw APIError(.badInput, detail: "items are not JSON") }
                data = d
            }
            do { parsedItems = try API.makeDecoder().decode([OrderItem].self, from: data) } catch {
                throw APIError(.badInput, detail: "items must be a JSON array of {name, quantity, unit_price[, sku]}")
            }
        }
        let minor: Int64
        if let amountMinor { minor = amountMinor }
        else if let amount { minor = try Self.amount(amount, currency: currency) }
        else if let parsedItems { minor = parsedItems.reduce(0) { $0 + $1.total } }
        else { throw APIError(.badInput, detail: "an amount is needed, e.g. 12.34") }
        guard minor > 0 else { throw APIError(.badInput, detail: "the amount must be above zero") }
        return CreateOrderRequest(amount: minor, currency: currency, items: parsedItems, clientRef: clientRef)
    }
}
