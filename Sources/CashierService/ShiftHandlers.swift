import CashierCore
import CashierCrypto
import CashierStorage
import HTTPServer

extension CashierService {
    // MARK: Open

    /// `POST /v1/shifts`: opens a shift at this terminal with the float counted into its drawer. One shift
    /// at a time per terminal; the same open sent again (same staff, same float) is answered with the
    /// shift it opened.
    func openShift(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(OpenShiftRequest.self, request)
        guard (0...Money.maximumMinorUnits).contains(body.openingFloat) else {
            throw Refusal(.amountInvalid, "opening_float must be 0 to \(Money.maximumMinorUnits) minor units")
        }
        let staff = try staffMember(body.staffId, store: auth.store)
        let record = ShiftRecord(id: "SH" + Hex.encode(Crypto.randomBytes(8)).uppercased(), storeID: auth.store.id,
                                 deviceID: auth.device.id, currency: auth.store.currency, openingFloat: body.openingFloat,
                                 openedAt: now, openedBy: staff)
        switch try base.openShift(record) {
        case .opened(let shift):
            return .json(try shiftResponse(shift, now: now), status: 201)
        case .alreadyOpen(let shift):
            guard shift.openedBy.id == staff.id, shift.openingFloat == body.openingFloat else {
                throw Refusal(.shiftAlreadyOpen, "shift \(shift.id) opened by \(shift.openedBy.name) is still open")
            }
            return .json(try shiftResponse(shift, now: now))
        }
    }

    // MARK: Reports

    /// `GET /v1/shifts/current`: this terminal's open shift with its X report.
    func currentShift(auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        guard let shift = try base.openShift(deviceID: auth.device.id) else {
            throw Refusal(.shiftNotFound, "this terminal has no open shift")
        }
        return .json(try shiftResponse(shift, now: now))
    }

    /// `GET /v1/shifts/{id}`: a shift of this store with its X report while open, its Z report once closed.
    func getShift(_ id: String, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        .json(try shiftResponse(try storeShift(id, auth: auth), now: now))
    }

    // MARK: Close

    /// `POST /v1/shifts/{id}/close`: closes the shift with the counted cash and answers its Z report.
    ///
    /// Refused, with nothing written, while a code payment of the shift is not final after asking its
    /// channel (`SHIFT_UNSETTLED`), while an order group cannot be read (`GROUP_UNAVAILABLE`: the Z would
    /// miss sales), and when the counted cash is further from the expected than the store's limit without
    /// a supervisor's PIN (`SUPERVISOR_REQUIRED`). A shift closed already is answered with its Z report as
    /// it was made: a Z number is given once, and a close sent again never makes a second.
    func closeShift(_ id: String, request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(CloseShiftRequest.self, request)
        guard (0...Money.maximumMinorUnits).contains(body.countedCash) else {
            throw Refusal(.amountInvalid, "counted_cash must be 0 to \(Money.maximumMinorUnits) minor units")
        }
        let shift = try storeShift(id, auth: auth)
        guard shift.isOpen else { return .json(try shiftResponse(shift, now: now)) }
        let closer = try staffMember(body.staffId, store: auth.store)

        let activity = try shiftActivity(shift, now: now, settle: true)
        guard activity.missingGroups.isEmpty else {
            throw Refusal(.groupUnavailable, "order groups \(activity.missingGroups.map(String.init).joined(separator: ", ")) cannot be read; the Z report would miss their sales")
        }
        let running = ShiftTally.report(shiftView(shift), sales: activity.sales, refunds: activity.refunds, now: now)
        guard running.unsettled.isEmpty else {
            throw Refusal(.shiftUnsettled, "not final yet: \(running.unsettled.map(\.digits).joined(separator: ", "))")
        }
        let difference = body.countedCash - running.cashExpected
        if abs(difference) > configuration.limits.cashDifferenceLimit {
            let money = { (v: Int64) in Money(minorUnits: v, currency: shift.currency).decimalString }
            guard let pin = body.supervisorPin else {
                throw Refusal(.supervisorRequired, "counted \(money(body.countedCash)), expected \(money(running.cashExpected)): \(money(difference)) off, more than \(money(configuration.limits.cashDifferenceLimit))")
            }
            _ = try checkStaffPIN(pin, store: auth.store, device: auth.device, now: now, supervisorOnly: true)
        }

        let outcome = try base.closeShift(id: shift.id, closedBy: closer, countedCash: body.countedCash, now: now) { zNumber in
            var closed = shift
            closed.closedAt = now
            closed.closedBy = closer
            closed.countedCash = body.countedCash
            closed.zNumber = zNumber
            let z = ShiftTally.report(shiftView(closed), sales: activity.sales, refunds: activity.refunds, now: now)
            return String(decoding: API.encode(z), as: UTF8.self)
        }
        switch outcome {
        case .closed(let closed), .alreadyClosed(let closed): return .json(try shiftResponse(closed, now: now))
        case .notFound: throw Refusal(.shiftNotFound)
        }
    }

    // MARK: Helpers

    /// A shift of the terminal's store; one of another store is answered as not found.
    private func storeShift(_ id: String, auth: AuthenticatedDevice) throws -> ShiftRecord {
        guard Signing.isValidDeviceID(id), let shift = try base.shift(id: id), shift.storeID == auth.store.id else {
            throw Refusal(.shiftNotFound)
        }
        return shift
    }

    private func staffMember(_ id: String, store: StoreRecord) throws -> ShiftStaff {
        guard let staff = try base.staff(storeID: store.id).first(where: { $0.id == id }) else {
            throw Refusal(.staffUnknown, "no staff member \(id) in store \(store.id)")
        }
        return ShiftStaff(id: staff.id, name: staff.name, role: staff.role)
    }

    /// The shift and its report: the Z report kept at close, or an X report made now.
    private func shiftResponse(_ shift: ShiftRecord, now: Int64) throws -> ShiftResponse {
        let view = shiftView(shift)
        if !shift.isOpen, let text = shift.zReport {
            do { return ShiftResponse(shift: view, report: try API.decode(ShiftReport.self, from: Array(text.utf8))) } catch {
                throw StorageError.failed("the Z report of shift \(shift.id) cannot be read: \(error)")
            }
        }
        let activity = try shiftActivity(shift, now: now, settle: false)
        var report = ShiftTally.report(view, sales: activity.sales, refunds: activity.refunds, now: now)
        report.missingGroups = activity.missingGroups.isEmpty ? nil : activity.missingGroups
        return ShiftResponse(shift: view, report: report)
    }

    func shiftView(_ s: ShiftRecord) -> ShiftView {
        func staff(_ m: ShiftStaff) -> StaffView { StaffView(staffId: m.id, name: m.name, role: m.role.rawValue) }
        return ShiftView(shiftId: s.id, storeId: s.storeID, deviceId: s.deviceID, status: s.isOpen ? .open : .closed,
                         currency: s.currency, openingFloat: s.openingFloat, openedAt: s.openedAt, openedBy: staff(s.openedBy),
                         closedAt: s.closedAt, closedBy: s.closedBy.map(staff), countedCash: s.countedCash, zNumber: s.zNumber)
    }

    /// Every group's orders and refunds of the shift (its own terminal's only). With `settle`, code
    /// payments still under way are first asked of their channel, as a query would.
    private func shiftActivity(_ shift: ShiftRecord, now: Int64, settle: Bool)
        throws -> (sales: [ShiftTally.Sale], refunds: [ShiftTally.Refund], missingGroups: [Int]) {
        var sales: [ShiftTally.Sale] = []
        var refunds: [ShiftTally.Refund] = []
        var missing: [Int] = []
        for tag in hopping.groupTags {
            do {
                let (orders, refunded) = try hopping.withGroup(tag) { group in
                    (try group.orders(ofShift: shift.id), try group.refunds(ofShift: shift.id))
                }
                for var order in orders where order.deviceID == shift.deviceID {
                    if settle, order.status == .paying { order = try refreshWithChannel(order, now: now).0 }
                    sales.append(ShiftTally.Sale(orderNo: order.orderNo, tender: order.tenderName, status: order.status, amount: order.amount))
                }
                for (refund, order) in refunded where order.storeID == shift.storeID {
                    refunds.append(ShiftTally.Refund(tender: order.tenderName, amount: refund.amount))
                }
            } catch is HoppingError {
                missing.append(Int(tag.value))
            }
        }
        return (sales, refunds, missing)
    }
}
