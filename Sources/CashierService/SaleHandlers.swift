import CashierChannels
import CashierCore
import CashierStorage
import HTTPServer

extension CashierService {
    /// How long a number given out for one-call sales may be used (it carries the time it was made).
    static let orderNumberValidityMs: Int64 = 24 * 3_600 * 1_000

    /// Whether `number` could be one this service gave out for a sale still to be made: made in the last
    /// `orderNumberValidityMs`, and not later than now (with five minutes for instances' clocks).
    static func isUsableForASale(_ number: OrderNumber, now: Int64) -> Bool {
        let madeAt = number.epochSeconds * 1_000
        return madeAt <= now + 300_000 && now - madeAt <= orderNumberValidityMs
    }

    // MARK: Numbers

    /// `POST /v1/order-numbers`: numbers for one-call sales, in groups that take orders now. Nothing is
    /// written: a number is unique by how it is made (this instance, the second, a sequence), and the sale
    /// that uses it is the write.
    func orderNumbers(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(OrderNumbersRequest.self, request)
        guard (1...20).contains(body.count) else { throw Refusal(.invalidField, "count must be 1 to 20") }
        let numbers = freshNumbers(body.count, now: now)
        guard !numbers.isEmpty else { throw Refusal(.noGroupAvailable) }
        return .json(OrderNumbersResponse(orderNumbers: numbers, validUntil: now + Self.orderNumberValidityMs))
    }

    private func freshNumbers(_ count: Int, now: Int64) -> [OrderNumber] {
        hopping.groupsForNewNumbers(count: count).map { nextOrderNumber(group: $0, now: now) }
    }

    // MARK: One-call sale

    /// `POST /v1/sales`: places the order, claims it for payment and keeps the request's nonce in one
    /// commit in the group its number names, then calls the channel and answers the order as it stands.
    ///
    /// The terminal's number makes the sale idempotent: sent again after any failure, to either domain,
    /// the same sale meets the order it placed (and is answered how it stands, asking the channel when a
    /// payment is under way), so it can never place a second order, let alone charge one. Refused before
    /// anything is written: a malformed sale, a code of no channel or of one the store does not take, a
    /// number that is not this service's or too old. `GROUP_UNAVAILABLE` means the commit did not happen
    /// (nothing placed, the channel not called): the terminal may sell on another number.
    func sale(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(SaleRequest.self, request)
        let (currency, items) = try validateSale(amount: body.amount, currency: body.currency, items: body.items,
                                                 clientRef: body.clientRef, store: auth.store)
        if let reserve = body.reserve, !(0...5).contains(reserve) { throw Refusal(.invalidField, "reserve must be 0 to 5") }
        guard Self.isUsableForASale(body.orderNo, now: now) else {
            throw Refusal(.invalidField, "order_no must be a number this service gave out in the last 24 hours")
        }
        try validateStaffAndShift(staffID: body.staffId, shiftID: body.shiftId)
        // A group another instance has just added (and this one applies within a second), or none: nothing
        // is placed and the channel is not called, so the terminal sells on its next number.
        guard hopping.resolve(body.orderNo.group) != nil else {
            throw Refusal(.groupUnavailable, "order group \(body.orderNo.group) is not known to this instance (yet)")
        }
        let tender = body.tender ?? .code
        var record = OrderRecord(orderNo: body.orderNo, merchantID: auth.store.merchantID, storeID: auth.store.id,
                                 deviceID: auth.device.id, amount: body.amount, currency: currency, status: .paying,
                                 items: items, clientRef: body.clientRef, createdAt: now, updatedAt: now,
                                 staffID: body.staffId, shiftID: body.shiftId, tender: tender)
        var channel: (any PaymentChannel)?
        switch tender {
        case .code:
            guard let code = body.paymentCode else { throw Refusal(.malformedRequest, "missing field payment_code") }
            guard body.cashGiven == nil else { throw Refusal(.invalidField, "cash_given is for cash sales") }
            channel = try self.channel(forCode: code, store: auth.store, now: now)
            record.paymentCode = code
        case .cash:
            guard body.paymentCode == nil else { throw Refusal(.invalidField, "a cash sale has no payment_code") }
            if let given = body.cashGiven, given < body.amount || given > Money.maximumMinorUnits {
                throw Refusal(.amountInvalid, "cash_given must be at least the amount and at most \(Money.maximumMinorUnits) minor units")
            }
            // The cash is in the drawer: the sale is paid when it is placed.
            record.status = .paid
            record.paidAt = now
            record.cashGiven = body.cashGiven
        }
        let placed = try hopping.withGroup(body.orderNo.group) { try $0.placeSale(record, recording: auth.nonceRecord) }
        let (order, pending): (OrderRecord, PaymentPending?)
        switch placed {
        case .replayed:
            throw Refusal(.nonceReplayed)
        case .placed(let claimed):
            metrics.increment("cashierd_orders_created_total", [("group", claimed.orderNo.group.description)])
            if let channel, let code = body.paymentCode {
                (order, pending) = try charge(claimed, code: code, channel: channel, request: request, auth: auth, now: now)
            } else {
                metrics.increment("cashierd_payments_total", [("outcome", "cash")])
                (order, pending) = (claimed, nil)
            }
        case .existing(let existing):
            // The same sale sent again, or a number used twice.
            guard existing.storeID == auth.store.id else { throw Refusal(.orderOtherStore) }
            guard existing.deviceID == auth.device.id, existing.amount == body.amount, existing.currency == currency,
                  existing.tender == tender else {
                throw Refusal(.idempotencyConflict, "order_no \(body.orderNo) was used for another sale")
            }
            if let code = body.paymentCode {
                (order, pending) = try answerPayOfStartedOrder(existing, code: code, now: now)
            } else {
                (order, pending) = (existing, nil)
            }
        }
        let answer = SaleResponse(order: try answerView(order, pending: pending), orderNumbers: freshNumbers(body.reserve ?? 0, now: now))
        // 201 when this request placed the order, 200 when it met one already there.
        var status = 200
        if case .placed = placed { status = 201 }
        var reply = Reply.json(answer, status: status)
        reply.group = order.orderNo.group.value
        return reply
    }
}
