import CashierClient
import CashierCore
import Foundation

/// A command that needs the terminal's engine (configuration, keystore, journal): opens it, runs `body`,
/// stops it. A configuration that cannot be read is reported as the command's error (exit 8).
func withEngine(_ body: @escaping @Sendable (Commands) throws -> Int32) -> @Sendable (Invocation) throws -> Int32 {
    { invocation in
        let engine: CashierEngine
        do throws(APIError) { engine = try CashierEngine.open(configPath: invocation.string("config")) } catch {
            return Commands.report(error, json: invocation.isGiven("json") || invocation.isGiven("headless"))
        }
        defer { engine.stop() }
        return try body(Commands(engine: engine, invocation: invocation))
    }
}

/// The one-shot commands: each prints a human summary (or `--json`) and returns its exit code. The
/// command line they are given is checked and typed by the table (Table.swift).
struct Commands {
    let engine: CashierEngine
    let invocation: Invocation

    var json: Bool { invocation.isGiven("json") }

    // MARK: - Output

    static func printJSON(_ object: [String: Any]) { print(Reporting.line(object)) }

    static func report(_ error: APIError, json: Bool) -> Int32 {
        let code = ExitCode(error: error)
        if json { printJSON(Reporting.error(error)) } else {
            FileHandle.standardError.write(Data("cashier: \(error)\n".utf8))
        }
        return code.rawValue
    }

    func currency() -> String { engine.credentials?.store.currency ?? Money.defaultCurrency }

    func money(_ minor: Int64, _ currency: String) -> String { Money(minorUnits: minor, currency: currency).description }

    func requireActivation() -> Int32? {
        engine.credentials == nil ? Self.report(APIError(.notActivated, detail: "run `cashier activate --code CODE` first"), json: json) : nil
    }

    /// `cashier resume`: finishes sales a crash left open and says how each ended.
    func resumeCommand() -> Int32 {
        engine.start()
        return resume(announce: true)
    }

    /// Finishes sales a crash left open; returns a failing exit code only if one needs attention.
    /// Also sends the cash sales kept offline, when the service answers.
    func resume(announce: Bool) -> Int32 {
        let results = engine.resumeUnfinishedSales()
        let forwarded = engine.forwardStoredSales()
        if announce && json {
            Self.printJSON(["resumed": results.map { Reporting.outcome($0.outcome).merging(["sale": $0.id]) { a, _ in a } },
                            "forwarded": forwarded.map { Reporting.outcome($0.outcome).merging(["sale": $0.id]) { a, _ in a } },
                            "waiting": engine.cashSalesToForward])
        }
        for r in results where !json {
            let line = "resumed sale \(r.id)\(r.orderNo.map { " (order \($0.digits))" } ?? ""): \(describe(r.outcome))"
            if announce { print(line) } else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        for r in forwarded where !json {
            let line = "offline cash sale \(r.id) sent: \(describe(r.outcome))"
            if announce { print(line) } else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        let waiting = engine.cashSalesToForward
        if waiting > 0, !json {
            let line = "\(waiting) offline cash sale(s) still wait to be sent"
            if announce { print(line) } else { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        if announce && results.isEmpty && forwarded.isEmpty && waiting == 0 && !json { print("no unfinished sales") }
        return results.contains { if case .needsAttention = $0.outcome { return true } else { return false } }
            ? ExitCode.needsAttention.rawValue : 0
    }

    func describe(_ o: SaleOutcome) -> String {
        switch o {
        case .paid(let v): return "PAID \(v.isCash ? "IN CASH " : "")\(v.money) (order \(v.orderNo.digits))\(change(v))"
        case .declined(let reason): return "DECLINED (\(reason))"
        case let .notPaid(reversed, reason): return "NOT PAID\(reversed ? ", payment cancelled" : "") (\(reason))"
        case let .needsAttention(n, reason): return "NEEDS ATTENTION\(n.map { " order \($0.digits)" } ?? ""): \(reason)"
        case .storedOffline(let v):
            return "PAID IN CASH, OFFLINE \(v.money) (order \(v.orderNo.digits), sent when the service answers)\(change(v))"
        }
    }

    /// ", change 3.50" for a cash sale.
    func change(_ v: OrderView) -> String {
        guard v.isCash, let change = v.change else { return "" }
        return ", change \(money(change, v.currency))"
    }

    // MARK: - Commands

    func activate() throws -> Int32 {
        let code = try invocation.requiredArgument("CODE")
        engine.start()
        switch engine.activate(code: code, deviceName: invocation.string("name")) {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let c):
            if json { Self.printJSON(["device_id": c.deviceId, "store": Reporting.object(c.store)]) }
            else { print("activated: device \(c.deviceId) of \(c.store.storeName) (\(c.store.storeId)), \(c.store.merchantName)") }
            return 0
        }
    }

    func status() -> Int32 {
        engine.start()
        let s = engine.statusAfterProbe()
        if json {
            Self.printJSON(Reporting.status(s))
        } else {
            for (i, d) in s.domains.enumerated() {
                let latency = d.latencyMs.map { "\($0) ms" } ?? "-"
                print("\(i == s.activeDomain ? "*" : " ") \(d.url)  \(d.state)  \(latency)\(d.error.map { "  \($0)" } ?? "")")
            }
            if let id = s.deviceId, let store = s.store { print("device \(id), store \(store.storeName) (\(store.storeId))") }
            else { print("not activated") }
            if let staff = s.staff { print("signed in: \(staff.name) (\(staff.staffId), \(staff.role))") }
            if let shift = s.shift { print("shift \(shift.shiftId) open since \(StoreTime(store: s.store).display(ms: shift.openedAt)), opened by \(shift.openedBy.name)") }
            if s.cashSalesToForward > 0 { print("\(s.cashSalesToForward) offline cash sale(s) wait to be sent to the service") }
            if s.unfinishedSales > 0 { print("\(s.unfinishedSales) unfinished sale(s) in the journal") }
            if s.clockOffsetMs != 0 {
                print("this terminal's clock is \(ClockCorrection.describe(offsetMs: s.clockOffsetMs)) the service's; "
                      + "requests are signed with the service's time (set the clock right)")
            }
        }
        if s.activeDomain == nil { return ExitCode.unreachable.rawValue }
        return 0
    }

    func pay() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let request: CreateOrderRequest
        do {
            request = try CommandInput.orderRequest(amount: nil, amountMinor: invocation.amount("amount"), items: invocation.string("items"),
                                                    currency: currency(), clientRef: invocation.string("sale"))
        } catch { return Self.report(error, json: json) }
        let code = try invocation.requiredString("code")
        engine.start()
        if let unreachable = engine.reachability() { return Self.report(unreachable, json: json) }
        _ = resume(announce: false)
        let json = self.json
        let subscription = engine.subscribe { event in
            guard !json, case let .sale(_, phase, left) = event else { return }
            let suffix = left.map { " (\($0) s left)" } ?? ""
            let line: String
            switch phase {
            case .creating: line = "creating the order…"
            case .paying(let n): line = "order \(n.digits): paying…"
            case .waitingForCustomer(let n): line = "order \(n.digits): waiting for the customer to confirm\(suffix)"
            case .querying(let n): line = "order \(n.digits): checking the payment\(suffix)"
            case .reversing(let n, let attempts): line = "order \(n.digits): cancelling the payment (attempt \(attempts))"
            case .finished: return
            }
            // Unbuffered, so a watcher sees each phase as it happens.
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        let result = engine.sell(request, paymentCode: code)
        engine.unsubscribe(subscription)
        return show(result)
    }

    /// Prints how a sale ended (`--json`: `Reporting.sale`) and returns its exit code.
    func show(_ result: SaleResult) -> Int32 {
        if json {
            Self.printJSON(Reporting.sale(result))
        } else {
            print(describe(result.outcome))
            if case .failed(let why)? = result.receipt {
                print("the sale is paid, but its receipt was NOT printed (\(why)): `cashier receipt` prints it again")
            }
        }
        return ExitCode(outcome: result.outcome).rawValue
    }

    func refund() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let order: OrderNumber
        do { order = try CommandInput.orderNumber(invocation.string("order")) } catch { return Self.report(error, json: json) }
        let amount = try invocation.requiredAmount("amount")
        let pin = try invocation.requiredString("pin")
        engine.start()
        _ = resume(announce: false)
        let (ref, result) = engine.refund(order: order, amount: amount, pin: pin, refundRef: invocation.string("ref"))
        switch result {
        case .success(let v):
            if json { Self.printJSON(["ref": ref, "refund": Reporting.object(v)]) }
            else { print("refunded \(money(v.amount, v.currency)) of order \(v.orderNo.digits): refund \(v.refundNo.text) (reference \(ref))") }
            return 0
        case .failure(let e):
            if json { Self.printJSON(Reporting.error(e).merging(["ref": ref]) { a, _ in a }) }
            else { FileHandle.standardError.write(Data("cashier: \(e)\nretry with --ref \(ref) to make sure it is refunded only once\n".utf8)) }
            return ExitCode(error: e).rawValue
        }
    }

    func orders() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let limit = try invocation.requiredInteger("limit")
        engine.start()
        _ = resume(announce: false)
        switch engine.orders(limit: limit, cursor: invocation.string("cursor")) {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let page):
            if json { Self.printJSON((Reporting.object(page) as? [String: Any]) ?? [:]) } else {
                for o in page.orders {
                    let refunded = o.refundedAmount > 0 ? " refunded \(money(o.refundedAmount, o.currency))" : ""
                    print("\(o.orderNo.digits)  \(StoreTime(store: engine.credentials?.store).display(ms: o.createdAt))  \(money(o.amount, o.currency))  \(o.status.rawValue)\(refunded)")
                }
                if page.orders.isEmpty { print("no orders") }
                if !page.unavailableGroups.isEmpty { print("(groups \(page.unavailableGroups) did not answer; their orders are missing)") }
                if let next = page.nextCursor { print("more: cashier orders --cursor \(next)") }
            }
            return 0
        }
    }

    func order() throws -> Int32 {
        let text = try invocation.requiredArgument("ORDER_NO")
        if let failed = requireActivation() { return failed }
        let number: OrderNumber
        do { number = try CommandInput.orderNumber(text) } catch { return Self.report(error, json: json) }
        engine.start()
        switch engine.order(number) {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let v):
            if json { Self.printJSON(["order": Reporting.object(v)]) } else {
                print("order \(v.orderNo.digits)  \(v.status.rawValue)  \(v.money)")
                for item in v.items { print("  \(item.quantity) x \(item.name)  \(money(item.unitPrice, v.currency))") }
                if v.refundedAmount > 0 { print("refunded \(money(v.refundedAmount, v.currency))") }
                for r in v.refunds { print("  refund \(r.refundNo.text) \(money(r.amount, r.currency)) \(r.status.rawValue) ref \(r.refundRef)") }
                if let f = v.failure { print("failure: \(f.reason) \(f.message)") }
            }
            return 0
        }
    }

    /// `cashier sign-in --pin PIN`: a member of the store's staff signs in at this terminal.
    func signIn() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let pin = try invocation.requiredString("pin")
        engine.start()
        switch engine.signIn(pin: pin) {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let staff):
            if json { Self.printJSON(["staff": Reporting.object(staff)]) } else { print("signed in: \(staff.name) (\(staff.staffId), \(staff.role))") }
            return 0
        }
    }

    /// `cashier sign-out`: nobody is signed in at this terminal afterwards.
    func signOut() -> Int32 {
        let was = engine.signOut()
        if json { Self.printJSON(["signed_out": was.map { Reporting.object($0) } ?? NSNull()]) }
        else { print(was.map { "signed out: \($0.name)" } ?? "nobody was signed in") }
        return 0
    }

    /// `cashier receipt [ORDER_NO]`: prints a paid order's receipt again, marked COPY (the last receipt
    /// this terminal printed when no number is given). Exit 0 once printed; a printer that fails is exit 7.
    func receipt() -> Int32 {
        if let failed = requireActivation() { return failed }
        var number: OrderNumber?
        if let text = invocation.argument("ORDER_NO") {
            do { number = try CommandInput.orderNumber(text) } catch { return Self.report(error, json: json) }
        }
        engine.start()
        switch engine.reprintReceipt(order: number) {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let (view, printing)):
            if json {
                Self.printJSON(["order_no": view.orderNo.digits, "copy": true].merging(Reporting.receipt(printing)) { a, _ in a })
            } else if case .failed(let why) = printing {
                print("receipt of order \(view.orderNo.digits) NOT printed: \(why)")
            } else {
                print("receipt of order \(view.orderNo.digits) printed again (COPY)")
            }
            if case .failed = printing { return ExitCode.needsAttention.rawValue }
            return 0
        }
    }

    /// `cashier rotate-key`: a new Ed25519 key pair for this terminal, without activating again
    /// (docs/CLIENT.md). Exit 0 once the new key is in force; 5 if the outcome is not known yet (both keys
    /// are kept, and the next run settles it); 6 if the service refused.
    static func rotateKey(_ engine: CashierEngine, json: Bool) -> Int32 {
        guard engine.credentials != nil else {
            return report(APIError(.notActivated, detail: "run `cashier activate --code CODE` first"), json: json)
        }
        engine.start()
        switch engine.rotateKey() {
        case .failure(let e): return report(e, json: json)
        case .success(let outcome):
            let recovered = if case .recovered = outcome { true } else { false }
            let c = outcome.credentials
            if json {
                printJSON(["device_id": c.deviceId, "scheme": c.scheme.rawValue, "rotated": true, "answer_lost": recovered])
            } else {
                print("rotated: device \(c.deviceId) now signs with a new Ed25519 key; the old key is refused from now on"
                      + (recovered ? " (the answer was lost; the service was found holding the new key)" : ""))
            }
            return 0
        }
    }

    // MARK: - Headless

    static func headless(_ engine: CashierEngine) -> Int32 {
        let session = HeadlessSession(engine: engine) { line in
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        session.begin()
        while let line = readLine(strippingNewline: true) {
            if !session.handle(line: line) { break }
        }
        session.finish()
        return 0
    }
}
