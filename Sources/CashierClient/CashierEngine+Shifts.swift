import CashierCore
import Foundation

/// Shifts at this terminal: opened with a float by whoever is signed in, reported (X) any time, closed
/// with the counted cash (Z). The service keeps them; the journal remembers which is open here.
extension CashierEngine {
    /// Fills a sale's or refund's staff and shift from who is signed in and the shift open here.
    func stamp(_ staff: inout String?, _ shift: inout String?) {
        if staff == nil { staff = (try? journal.signedInStaff())??.staffId }
        if shift == nil { shift = (try? journal.currentShift())??.shiftId }
    }

    /// Opens a shift with `float` (minor units) counted into the drawer. Sent again after any doubt, the
    /// same open meets the shift it opened.
    public func openShift(float: Int64) -> Result<ShiftResponse, APIError> {
        guard let staff = (try? journal.signedInStaff()) ?? nil else {
            return .failure(APIError(.badInput, detail: "nobody is signed in: sign in with a staff PIN first"))
        }
        let body = API.encode(OpenShiftRequest(staffId: staff.staffId, openingFloat: float))
        return keepingShift(perform("POST", API.Path.shifts, body: body, policy: .safe).decoded(ShiftResponse.self))
    }

    /// The shift open here with its X report (or, given an id, any shift of the store: X or Z).
    public func shiftReport(id: String? = nil) -> Result<ShiftResponse, APIError> {
        let result = perform("GET", id.map(API.Path.shift) ?? API.Path.currentShift, policy: .safe).decoded(ShiftResponse.self)
        if id == nil, case .failure(.service(let e)) = result, e.code == .shiftNotFound { try? journal.saveShift(nil) }
        return id == nil ? keepingShift(result) : result.mapError(\.apiError)
    }

    /// Closes the shift open here with the cash counted in the drawer, and prints its Z report. Refused
    /// while cash sales wait to be forwarded (the Z would miss them): they are forwarded first.
    public func closeShift(counted: Int64, supervisorPIN: String? = nil) -> Result<ShiftResponse, APIError> {
        guard let staff = (try? journal.signedInStaff()) ?? nil else {
            return .failure(APIError(.badInput, detail: "nobody is signed in: sign in with a staff PIN first"))
        }
        guard let shift = (try? journal.currentShift()) ?? nil else {
            return .failure(APIError(.shiftNotFound, detail: "no shift is open at this terminal"))
        }
        if cashSalesToForward > 0 { _ = forwardStoredSales() }
        let waiting = cashSalesToForward
        guard waiting == 0 else {
            return .failure(APIError(.serviceUnreachable, detail: "\(waiting) cash sale(s) wait to be sent to the service; the shift can close once they are"))
        }
        let body = API.encode(CloseShiftRequest(staffId: staff.staffId, countedCash: counted, supervisorPin: supervisorPIN))
        let result = perform("POST", API.Path.closeShift(shift.shiftId), body: body, policy: .safe).decoded(ShiftResponse.self)
        guard case .success(let closed) = result else { return result.mapError(\.apiError) }
        try? journal.saveShift(nil)
        log.write("shift \(closed.shift.shiftId) closed by \(staff.staffId): Z \(closed.shift.zNumber.map(String.init) ?? "?")")
        return .success(closed)
    }

    /// Prints a shift report (X or Z) on the receipt printer.
    @discardableResult
    public func printShiftReport(_ report: ShiftReport) -> ReceiptPrinting {
        writeToReceiptSink(Receipt.shiftReport(report, store: credentials?.store), barcode: nil, openDrawer: false, what: "the \(report.kind) report")
    }

    private func keepingShift(_ result: Result<ShiftResponse, CallFailure>) -> Result<ShiftResponse, APIError> {
        switch result {
        case .success(let r):
            try? journal.saveShift(r.shift.status == .open ? r.shift : nil)
            return .success(r)
        case .failure(let f):
            return .failure(f.apiError)
        }
    }
}
