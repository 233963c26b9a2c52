import CashierClient
import CashierCore
import Foundation

/// The working day at the command line: cash sales, and shifts with their X and Z reports.
extension Commands {
    /// `cashier cash --amount A [--given G]`: a cash sale. Exit 0 when recorded or kept offline.
    func cash() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let request: CreateOrderRequest
        do {
            request = try CommandInput.orderRequest(amount: nil, amountMinor: invocation.amount("amount"), items: invocation.string("items"),
                                                    currency: currency(), clientRef: invocation.string("sale"))
        } catch { return Self.report(error, json: json) }
        engine.start()
        _ = engine.statusAfterProbe()
        _ = resume(announce: false)
        return show(engine.sellCash(request, cashGiven: invocation.amount("given")))
    }

    /// `cashier shift-open --float F`.
    func shiftOpen() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let float = try invocation.requiredAmount("float")
        engine.start()
        return showShift(engine.openShift(float: float), verb: "opened")
    }

    /// `cashier shift-report [--shift ID] [--print]`.
    func shiftReport() -> Int32 {
        if let failed = requireActivation() { return failed }
        engine.start()
        let result = engine.shiftReport(id: invocation.string("shift"))
        if invocation.isGiven("print"), case .success(let r) = result {
            let printing = engine.printShiftReport(r.report)
            if case .failed(let why) = printing, !json { print("the report was NOT printed: \(why)") }
        }
        return showShift(result, verb: nil)
    }

    /// `cashier shift-close --counted C [--supervisor-pin PIN]`: prints the Z report on the printer too.
    func shiftClose() throws -> Int32 {
        if let failed = requireActivation() { return failed }
        let counted = try invocation.requiredAmount("counted")
        engine.start()
        _ = engine.statusAfterProbe()
        let result = engine.closeShift(counted: counted, supervisorPIN: invocation.string("supervisor-pin"))
        if case .success(let r) = result { engine.printShiftReport(r.report) }
        return showShift(result, verb: "closed")
    }

    private func showShift(_ result: Result<ShiftResponse, APIError>, verb: String?) -> Int32 {
        switch result {
        case .failure(let e): return Self.report(e, json: json)
        case .success(let r):
            if json {
                Self.printJSON((Reporting.object(r) as? [String: Any]) ?? [:])
            } else {
                if let verb { print("shift \(r.shift.shiftId) \(verb)\(r.shift.zNumber.map { ": Z report No. \($0)" } ?? "")") }
                print(Receipt.shiftReport(r.report, store: engine.credentials?.store), terminator: "")
            }
            return 0
        }
    }
}
