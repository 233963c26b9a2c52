import CashierChannels
import CashierCore
import CashierStorage
import HTTPServer

extension CashierService {
    // MARK: Create

    /// `POST /v1/orders`: validates the sale and creates the order in whichever group takes it.
    func createOrder(_ request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(CreateOrderRequest.self, request)
        let (currency, items) = try validateSale(amount: body.amount, currency: body.currency, items: body.items,
                                                 clientRef: body.clientRef, store: auth.store)
        try validateStaffAndShift(staffID: body.staffId, shiftID: body.shiftId)
        let (order, hops) = try hopping.createOrder { tag in
            OrderRecord(orderNo: nextOrderNumber(group: tag, now: now), merchantID: auth.store.merchantID,
                        storeID: auth.store.id, deviceID: auth.device.id, amount: body.amount, currency: currency,
                        items: items, clientRef: body.clientRef, createdAt: now, updatedAt: now,
                        staffID: body.staffId, shiftID: body.shiftId)
        }
        metrics.increment("cashierd_orders_created_total", [("group", order.orderNo.group.description)])
        for hop in hops { metrics.increment("cashierd_group_hops_total", [("group", hop.description)]) }
        var reply = Reply.json(view(order, refunds: []), status: 201)
        reply.group = order.orderNo.group.value
        reply.hops = hops.count
        return reply
    }

    /// Checks a sale's amount, currency, lines and reference (PROTOCOL.md, "Creating an order"); returns
    /// its currency and lines.
    func validateSale(amount: Int64, currency: String?, items: [OrderItem]?, clientRef: String?,
                      store: StoreRecord) throws(Refusal) -> (currency: String, items: [OrderItem]) {
        guard amount > 0, amount <= Money.maximumMinorUnits else {
            throw Refusal(.amountInvalid, "amount must be 1 to \(Money.maximumMinorUnits) minor units")
        }
        let currency = currency ?? store.currency
        guard currency == store.currency else {
            throw Refusal(.invalidField, "this store takes \(store.currency)")
        }
        let items = items ?? []
        guard items.count <= 200 else { throw Refusal(.invalidField, "at most 200 items") }
        if !items.isEmpty {
            var sum: Int64 = 0
            for (i, item) in items.enumerated() {
                guard (1...9_999).contains(item.quantity) else { throw Refusal(.invalidField, "items[\(i)].quantity must be 1 to 9999") }
                guard (0...Money.maximumMinorUnits).contains(item.unitPrice) else { throw Refusal(.invalidField, "items[\(i)].unit_price out of range") }
                if let problem = TextField.problem(item.name, field: "items[\(i)].name", maxCodePoints: 100) { throw Refusal(.invalidField, problem) }
                if let sku = item.sku, let problem = TextField.problem(sku, field: "items[\(i)].sku", minCodePoints: 0, maxCodePoints: 64) {
                    throw Refusal(.invalidField, problem)
                }
                let (gross, o1) = item.unitPrice.multipliedReportingOverflow(by: Int64(item.quantity))
                guard !o1 else { throw Refusal(.amountInvalid, "items add up to too much") }
                if let discount = item.discount, !(0...gross).contains(discount) {
                    throw Refusal(.invalidField, "items[\(i)].discount must be 0 to the line's quantity × unit_price")
                }
                let line = gross - (item.discount ?? 0)
                let (total, o2) = sum.addingReportingOverflow(line)
                guard !o2 else { throw Refusal(.amountInvalid, "items add up to too much") }
                sum = total
            }
            guard sum == amount else {
                throw Refusal(.amountInvalid, "items add up to \(Money(minorUnits: sum, currency: currency).decimalString), not \(Money(minorUnits: amount, currency: currency).decimalString)")
            }
        }
        if let ref = clientRef, let problem = TextField.problem(ref, field: "client_ref", maxCodePoints: 64) {
            throw Refusal(.invalidField, problem)
        }
        return (currency, items)
    }

    /// Checks the form of the staff member and shift a terminal names on a sale or refund. They are taken
    /// as the signed terminal says (its staff signed in with their PIN), not looked up: a sale must not
    /// wait on the base data, and a shift's reports count only its own terminal's sales.
    func validateStaffAndShift(staffID: String?, shiftID: String?) throws(Refusal) {
        if let staffID, !Signing.isValidDeviceID(staffID) { throw Refusal(.invalidField, "staff_id must be 1 to 64 characters of A-Z a-z 0-9 _ -") }
        if let shiftID, !Signing.isValidDeviceID(shiftID) { throw Refusal(.invalidField, "shift_id must be 1 to 64 characters of A-Z a-z 0-9 _ -") }
    }

    // MARK: Query

    /// `GET /v1/orders/{no}`: the order as it stands; a payment under way is first checked with the channel.
    func queryOrder(_ number: OrderNumber, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        var order = try loadOrder(number, auth: auth)
        var pending: PaymentPending?
        if order.status == .paying {
            (order, pending) = try refreshWithChannel(order, now: now)
        }
        return try reply(order, pending: pending)
    }

    // MARK: Pay

    /// `POST /v1/orders/{no}/pay`: charges the customer's payment code at most once per order.
    ///
    /// The order moves created → paying by compare-and-set before the channel is called, so of two
    /// concurrent pay calls only one reaches the channel; the other (and every retry) is answered with
    /// the order's state as the channel reports it. The channel itself refuses a second charge for the
    /// same order number.
    ///
    /// The request's nonce is kept in the order's group (`Route.keepsNonceInOrderGroup`): in the claim's
    /// transaction when the order is `created`, else by a write of its own before anything else is done.
    /// A pay refused before that (malformed, unknown order) has had no effect, and a replay of it is
    /// refused the same way.
    func pay(_ number: OrderNumber, request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(PayRequest.self, request)
        // The code names its channel; one the store does not take is refused before anything is sent anywhere.
        let channel = try channel(forCode: body.paymentCode, store: auth.store, now: now)
        var order: OrderRecord
        do {
            order = try loadOrder(number, auth: auth)
        } catch let error as HoppingError {
            throw payRefusalWhenUnreadable(number, error, channel: channel, now: now)
        }
        if order.status != .created { try recordNonceIfWritable(auth, inGroupOf: number) }
        switch order.status {
        case .paid, .declined, .reversed, .closed, .paying:
            let (answered, pending) = try answerPayOfStartedOrder(order, code: body.paymentCode, now: now)
            return try reply(answered, pending: pending)
        case .created:
            // The one place pay answers GROUP_UNAVAILABLE: the order is `created` and its claim could not be
            // written, so the channel is surely not called for it (the HoppingError propagates).
            let claim = try hopping.withGroup(number.group) {
                try $0.transition(number, from: [.created], change: OrderChange(status: .paying, paymentCode: body.paymentCode),
                                  now: now, recording: auth.nonceRecord)
            }
            let (claimed, changed): (OrderRecord, Bool)
            switch claim {
            case .replayed: throw Refusal(.nonceReplayed)
            case .orderNotFound: throw Refusal(.orderNotFound)
            case .done(let after, let didChange): (claimed, changed) = (after, didChange)
            }
            guard changed else {
                // Another pay call won the race; answer with what it is doing.
                guard claimed.status == .paying, claimed.paymentCode == body.paymentCode else {
                    if claimed.status == .paid { return try reply(claimed, pending: nil) }
                    if claimed.status == .paying { throw Refusal(.paymentUnderWay, "a payment with another code is under way") }
                    throw Refusal(.orderNotPayable, "the order is \(claimed.status.rawValue)")
                }
                let (refreshed, pending) = try refreshWithChannel(claimed, now: now)
                return try reply(refreshed, pending: pending)
            }
            order = claimed
        }

        let (final, pending) = try charge(order, code: body.paymentCode, channel: channel, request: request, auth: auth, now: now)
        return try reply(final, pending: pending)
    }

    /// What a pay of an order past `created` answers: the order as it stands (a payment with the same code
    /// under way is first asked of the channel), or why it cannot be paid. Never a charge.
    func answerPayOfStartedOrder(_ order: OrderRecord, code: String, now: Int64) throws -> (OrderRecord, PaymentPending?) {
        switch order.status {
        case .paid:
            return (order, nil)
        case .declined, .reversed, .closed, .created:
            if order.status == .declined && order.paymentCode == code { return (order, nil) }
            throw Refusal(.orderNotPayable, "the order is \(order.status.rawValue); start a new sale")
        case .paying:
            guard order.paymentCode == code else {
                throw Refusal(.paymentUnderWay, "a payment with another code is under way; wait for it, or reverse the order first")
            }
            return try refreshWithChannel(order, now: now)
        }
    }

    /// Calls the channel for an order just claimed (`paying`, flushed) and records its answer.
    func charge(_ order: OrderRecord, code: String, channel: PaymentChannel, request: HTTPRequest, auth: AuthenticatedDevice,
                now: Int64) throws -> (OrderRecord, PaymentPending?) {
        let answer: ChannelPaymentState
        do {
            answer = try channel.pay(ChannelPayRequest(outTradeNo: order.orderNo.digits, amount: order.amount, currency: order.currency,
                                                       paymentCode: code, description: auth.store.name,
                                                       storeID: auth.store.id, deviceID: auth.device.id,
                                                       clientAddress: request.remoteAddress.isEmpty ? "127.0.0.1" : request.remoteAddress,
                                                       now: now))
        } catch {
            // The charge may or may not have happened: the order stays `paying` and the terminal queries.
            metrics.increment("cashierd_payments_total", [("outcome", "channel_error")])
            return (order, .unknown)
        }
        // If the group cannot record the answer now, `apply` answers with what the channel said: never
        // GROUP_UNAVAILABLE here, which would promise that nothing was charged.
        return try apply(answer, to: order, now: clock())
    }

    /// What a pay answers when the order's group cannot be read. `GROUP_UNAVAILABLE` tells the terminal
    /// that nothing was charged for this order, so it may sell on a new one; that is only said when the
    /// channel has no payment for the order. Otherwise (the channel has one, or cannot be asked) the
    /// answer is `PAYMENT_UNDER_WAY`: query the order, never start the sale again.
    private func payRefusalWhenUnreadable(_ number: OrderNumber, _ error: HoppingError, channel: PaymentChannel, now: Int64) -> Error {
        if case .unknownGroup = error { return Refusal(.orderNotFound) }
        if let answer = try? channel.query(outTradeNo: number.digits, now: now), answer == .notFound {
            return error
        }
        return Refusal(.paymentUnderWay, "the order's data cannot be read now and the channel may have a payment for it; query the order")
    }

    // MARK: Reverse

    /// `POST /v1/orders/{no}/reverse`: cancels an unpaid, unclear or timed-out payment; money taken is returned.
    func reverse(_ number: OrderNumber, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let order: OrderRecord
        do {
            order = try loadOrder(number, auth: auth)
        } catch let refusal as Refusal where refusal.error.code == .orderNotFound {
            return try closeUnplacedSale(number, auth: auth, now: now)
        }
        switch order.status {
        case .closed, .reversed, .declined:
            return try reply(order, pending: nil)
        case .created:
            let result = try hopping.withGroup(number.group) {
                try $0.transition(number, from: [.created], change: OrderChange(status: .closed), now: now)
            }
            guard let (after, changed) = result else { throw Refusal(.orderNotFound) }
            // Lost a race with a pay call: reverse what it started.
            if !changed && (after.status == .paying || after.status == .paid) { return try reverse(number, auth: auth, now: now) }
            return try reply(after, pending: nil)
        case .paying, .paid:
            if order.status == .paying {
                // The channel may have decided meanwhile (the customer confirmed late, or the group could not
                // record it): a payment it has made final is answered as such, never reversed unseen.
                let (settled, _) = try refreshWithChannel(order, now: now)
                if settled.status != .paying { return try reply(settled, pending: nil) }
            }
            guard order.refundedAmount == 0 else {
                throw Refusal(.orderNotReversible, "the order has refunds; refund the rest instead")
            }
            do {
                try channel(of: order, now: now).reverse(outTradeNo: number.digits, payStartedAt: order.updatedAt, now: now)
            } catch let error as ChannelError where error.kind == .notYet {
                throw Refusal(.channelUnavailable, "the channel does not take the reversal yet (\(error.detail)); send it again shortly")
            } catch let refusal as Refusal {
                throw refusal
            } catch {
                throw Refusal(.channelUnavailable, "the reversal did not reach the channel; send it again")
            }
            metrics.increment("cashierd_payments_total", [("outcome", "reversed")])
            let result = try hopping.withGroup(number.group) {
                try $0.transition(number, from: [.paying, .paid], change: OrderChange(status: .reversed), now: now)
            }
            guard let (after, _) = result else { throw Refusal(.orderNotFound) }
            return try reply(after, pending: nil)
        }
    }

    /// A reverse of a number no order has yet: a one-call sale that has not landed (it may still be on its
    /// way). A `closed` order is written under the number (amount 0, no lines), so the late sale finds it
    /// and is refused without reaching the channel; answered `closed`, the proof that the code was not
    /// spent. Only numbers young enough to be used for a sale are closed so; older ones are not found.
    private func closeUnplacedSale(_ number: OrderNumber, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        guard Self.isUsableForASale(number, now: now) else { throw Refusal(.orderNotFound) }
        let closed = OrderRecord(orderNo: number, merchantID: auth.store.merchantID, storeID: auth.store.id,
                                 deviceID: auth.device.id, amount: 0, currency: auth.store.currency, status: .closed,
                                 items: [], createdAt: now, updatedAt: now)
        do {
            try hopping.withGroup(number.group) { try $0.insertOrder(closed) }
        } catch StorageError.duplicateKey {
            // The sale landed meanwhile: reverse what it started.
            return try reverse(number, auth: auth, now: now)
        }
        return try reply(closed, pending: nil)
    }

    // MARK: Refund

    /// `POST /v1/orders/{no}/refunds`: refunds part or all of a paid order with a supervisor's PIN.
    ///
    /// Idempotent by the terminal's refund reference; the amount is reserved in the order's group in one
    /// transaction, so concurrent refunds can never together exceed what was paid.
    func refund(_ number: OrderNumber, request: HTTPRequest, auth: AuthenticatedDevice, now: Int64) throws -> Reply {
        let body = try decode(RefundRequest.self, request)
        guard body.amount > 0, body.amount <= Money.maximumMinorUnits else { throw Refusal(.amountInvalid) }
        guard Signing.isValidDeviceID(body.refundRef) else {
            throw Refusal(.invalidField, "refund_ref must be 1 to 64 characters of A-Z a-z 0-9 _ -")
        }
        if let reason = body.reason, let problem = TextField.problem(reason, field: "reason", minCodePoints: 0, maxCodePoints: 200) {
            throw Refusal(.invalidField, problem)
        }
        let order = try loadOrder(number, auth: auth)
        let supervisor = try checkStaffPIN(body.pin, store: auth.store, device: auth.device, now: now, supervisorOnly: true)

        try validateStaffAndShift(staffID: body.staffId, shiftID: body.shiftId)
        let refund = RefundRecord(refundNo: nextRefundNumber(group: number.group, now: now), orderNo: number,
                                  amount: body.amount, currency: order.currency, refundRef: body.refundRef,
                                  status: .pending, staffID: supervisor.id, reason: body.reason, createdAt: now,
                                  cashierID: body.staffId, shiftID: body.shiftId)
        let reservation = try hopping.withGroup(number.group) {
            try $0.reserveRefund(refund, maxRefunds: configuration.limits.maxRefundsPerOrder, now: now)
        }
        var accepted: RefundRecord
        switch reservation {
        case .reserved(let r), .existing(let r): accepted = r
        case .conflict: throw Refusal(.idempotencyConflict, "refund_ref \(body.refundRef) was used for another amount")
        case .orderNotPaid: throw Refusal(.orderNotPaid)
        case .exceedsPaid(let remaining):
            throw Refusal(.refundExceedsPaid, "at most \(Money(minorUnits: remaining, currency: order.currency).decimalString) can still be refunded")
        case .limitReached: throw Refusal(.refundLimitReached, "at most \(configuration.limits.maxRefundsPerOrder) refunds per order")
        case .orderNotFound: throw Refusal(.orderNotFound)
        }
        if accepted.status == .pending, order.tender == .cash {
            // Cash goes back from the drawer, at the till: there is no channel to ask.
            try hopping.withGroup(number.group) { try $0.completeRefund(accepted.refundNo, now: now) }
            accepted.status = .succeeded
            accepted.completedAt = now
        } else if accepted.status == .pending {
            let state: ChannelRefundState
            do {
                state = try channel(of: order, now: now).refund(ChannelRefundRequest(
                    refundNo: accepted.refundNo.text, outTradeNo: number.digits, orderAmount: order.amount,
                    amount: accepted.amount, currency: order.currency, reason: body.reason, now: now))
            } catch let refusal as Refusal {
                throw refusal
            } catch {
                // Reserved but not confirmed: a retry with the same reference completes it.
                throw Refusal(.channelUnavailable, "the refund is recorded as pending; send it again with the same refund_ref")
            }
            switch state {
            case .succeeded: break
            case .processing, .notFound:
                throw Refusal(.channelUnavailable, "the channel has the refund but has not confirmed it; send it again with the same refund_ref")
            case .refused(let reason, let message):
                // Refused at the channel: nothing was refunded. The reservation goes, so nothing sends it
                // again behind the cashier's back; a new refund (any reference) may be tried.
                _ = try? hopping.withGroup(number.group) { try $0.dropRefusedRefund(accepted.refundNo, now: now) }
                throw Refusal(.refundRefused, "\(reason): \(message)")
            }
            try hopping.withGroup(number.group) { try $0.completeRefund(accepted.refundNo, now: now) }
            accepted.status = .succeeded
            accepted.completedAt = now
        }
        let after = try loadOrder(number, auth: auth)
        let refunds = try hopping.withGroup(number.group) { try $0.refunds(of: number) }
        var reply = Reply.json(RefundResponse(refund: refundView(accepted), order: view(after, refunds: refunds)))
        reply.group = number.group.value
        return reply
    }

    /// Finds the member of the store's staff whose PIN this is (a supervisor when `supervisorOnly`); counts
    /// wrong PINs per terminal and refuses every PIN from it (sign-in and refunds alike) after too many in
    /// 15 minutes.
    func checkStaffPIN(_ pin: String, store: StoreRecord, device: DeviceRecord, now: Int64, supervisorOnly: Bool) throws -> StaffRecord {
        let key = "pin:\(device.id)"
        let windowStart = now - 15 * 60 * 1000
        guard try base.attempts(key: key, windowStart: windowStart) < configuration.limits.pinAttempts else {
            throw Refusal(.pinLocked)
        }
        if PINHash.isValidPIN(pin) {
            let staff = try base.staff(storeID: store.id)
            if let match = staff.first(where: { $0.pinHash.matches(pin) }) {
                guard match.role == .supervisor || !supervisorOnly else { throw Refusal(.pinNotSupervisor) }
                try base.clearAttempts(key: key)
                return match
            }
        }
        _ = try base.countAttempt(key: key, now: now, windowStart: windowStart)
        throw Refusal(.pinInvalid)
    }

    // MARK: List

    /// `GET /v1/orders?limit=&cursor=`: the store's orders across all groups, newest first.
    func listOrders(_ request: HTTPRequest, auth: AuthenticatedDevice) throws -> Reply {
        var limit = 20
        var cursor: OrderListCursor?
        for (key, value) in request.query {
            switch key {
            case "limit":
                guard let n = Int(value), (1...100).contains(n) else { throw Refusal(.invalidField, "limit must be 1 to 100") }
                limit = n
            case "cursor":
                guard let c = OrderListCursor(token: value) else { throw Refusal(.invalidField, "cursor is not one this service gave") }
                cursor = c
            default:
                throw Refusal(.invalidField, "unknown query parameter \(key)")
            }
        }
        let (orders, unavailable) = hopping.listOrders(.store(auth.store.id), before: cursor, limit: limit)
        let summaries = orders.map {
            OrderSummary(orderNo: $0.orderNo, amount: $0.amount, currency: $0.currency, status: $0.status,
                         refundedAmount: $0.refundedAmount, createdAt: $0.createdAt, deviceId: $0.deviceID)
        }
        return .json(OrderListResponse(orders: summaries, nextCursor: OrderListCursor.after(orders, limit: limit)?.token,
                                       unavailableGroups: unavailable.map(\.value)))
    }

    // MARK: Shared

    /// Records the request's nonce in the group that holds the order `number` names; a replay is refused.
    func recordNonce(_ auth: AuthenticatedDevice, inGroupOf number: OrderNumber) throws {
        let fresh = try hopping.withGroup(number.group) { try $0.recordNonce(auth.nonceRecord) }
        guard fresh else { throw Refusal(.nonceReplayed) }
    }

    /// Records a pay's nonce for an order past `created`, when the group can be written. Such a pay can
    /// only answer how the order stands (it can never claim or charge: an order never returns to
    /// `created`), so when the group cannot take the nonce the pay goes on without it rather than
    /// answering GROUP_UNAVAILABLE, which would tell the terminal that nothing was charged.
    func recordNonceIfWritable(_ auth: AuthenticatedDevice, inGroupOf number: OrderNumber) throws {
        do {
            try recordNonce(auth, inGroupOf: number)
        } catch is HoppingError {
            metrics.increment("cashierd_unrecorded_total", [("what", "pay_nonce")])
        }
    }

    /// Reads an order from the group its number names and checks it belongs to the terminal's store.
    func loadOrder(_ number: OrderNumber, auth: AuthenticatedDevice) throws -> OrderRecord {
        guard let order = try hopping.withGroup(number.group, { try $0.order(number) }) else {
            throw Refusal(.orderNotFound)
        }
        guard order.storeID == auth.store.id else { throw Refusal(.orderOtherStore) }
        return order
    }

    /// Asks the channel where a `paying` order stands and records a final answer.
    ///
    /// Paced by the channel's rules (`ChannelTiming`): asked again no sooner than its poll interval after
    /// the last ask (a terminal polling faster is answered how it stood then), and a payment still
    /// undecided past the channel's deadline after its claim is reversed, as the provider requires
    /// (WeChat Pay: query every 5 s for 30 s, then reverse). The sweep passes `reverseAtDeadline: false`:
    /// it has its own, later, rule (`sweep.reverse_after_seconds`).
    func refreshWithChannel(_ order: OrderRecord, now: Int64, reverseAtDeadline: Bool = true) throws -> (OrderRecord, PaymentPending?) {
        let channel: PaymentChannel
        do { channel = try self.channel(of: order, now: now) } catch { return (order, .unknown) }
        let timing = channel.timing
        let past = timing.isPastDeadline(claimedAtMs: order.updatedAt, nowMs: now)
        if !past, let last = paceLock.withLock({ lastAsked[order.orderNo] }), !timing.mayAskAgain(lastAskedAtMs: last.at, nowMs: now) {
            return (order, last.pending)
        }
        let answer: ChannelPaymentState
        do {
            answer = try channel.query(outTradeNo: order.orderNo.digits, now: now)
        } catch {
            return (order, .unknown)
        }
        let (after, pending) = try apply(answer, to: order, now: now)
        guard after.status == .paying else {
            paceLock.withLock { lastAsked[order.orderNo] = nil }
            return (after, pending)
        }
        // Only a payment the provider knows and has not decided (the customer confirming, or its answer
        // unknown) is reversed at its deadline; one it never saw is left to the terminal and the sweep.
        guard past, reverseAtDeadline, answer == .userConfirming || answer == .unknown else {
            paceLock.withLock {
                if lastAsked.count >= 10_000 { lastAsked.removeAll() }
                lastAsked[order.orderNo] = (now, pending ?? .unknown)
            }
            return (after, pending)
        }
        // Undecided past the channel's deadline: reverse it there (money taken, if any, goes back).
        do {
            try channel.reverse(outTradeNo: order.orderNo.digits, payStartedAt: order.updatedAt, now: now)
        } catch {
            return (after, pending)
        }
        metrics.increment("cashierd_payments_total", [("outcome", "reversed_at_deadline")])
        paceLock.withLock { lastAsked[order.orderNo] = nil }
        return (try recordChannelAnswer(order, OrderChange(status: .reversed), now: now), nil)
    }

    /// Records what the channel says about a `paying` order (the answer to its pay call, or to a query).
    func apply(_ answer: ChannelPaymentState, to order: OrderRecord, now: Int64) throws -> (OrderRecord, PaymentPending?) {
        switch answer {
        case .paid(let txn):
            metrics.increment("cashierd_payments_total", [("outcome", "paid")])
            let after = try recordChannelAnswer(order, OrderChange(status: .paid, channelTxn: txn, paidAt: now), now: now)
            return (after, nil)
        case .userConfirming:
            metrics.increment("cashierd_payments_total", [("outcome", "user_paying")])
            return (order, .userConfirming)
        case .declined(let reason, let message):
            metrics.increment("cashierd_payments_total", [("outcome", "declined")])
            let after = try recordChannelAnswer(order, OrderChange(status: .declined, failureReason: reason, failureMessage: message), now: now)
            return (after, nil)
        case .reversed:
            let after = try recordChannelAnswer(order, OrderChange(status: .reversed), now: now)
            return (after, nil)
        case .unknown:
            metrics.increment("cashierd_payments_total", [("outcome", "unknown")])
            return (order, .unknown)
        case .notFound:
            // The pay call has not reached the channel (yet); only a reversal may end this.
            return (order, .unknown)
        }
    }

    /// Moves a `paying` order to the final state the channel has just given it.
    ///
    /// The write does not wait for the disk (`.deferred`): the claim that made the order `paying` was
    /// flushed before the channel was called, and a `paying` order is always asked of the channel again (by
    /// the terminal's query, or by the sweep of stale payments), so a power cut that takes this record
    /// loses nothing. One flush fewer on every sale's path (docs/PERFORMANCE.md, fifth round).
    ///
    /// When the group cannot take the write (down, locked, disk full), the answer is still what the channel
    /// said, computed in memory: the order stays `paying` in its group, and its next query or the sweep
    /// asks the channel again and records it then. A group that cannot write must never turn a payment the
    /// channel has made into "unavailable" (the terminal would reverse it at its deadline).
    private func recordChannelAnswer(_ order: OrderRecord, _ change: OrderChange, now: Int64) throws -> OrderRecord {
        let result: (OrderRecord, changed: Bool)?
        do {
            result = try hopping.withGroup(order.orderNo.group) {
                try $0.transition(order.orderNo, from: [.paying], change: change, now: now, durability: .deferred)
            }
        } catch is HoppingError {
            metrics.increment("cashierd_unrecorded_total", [("what", "channel_answer")])
            return order.applying(change, now: now)
        }
        guard let (after, _) = result else { throw Refusal(.orderNotFound) }
        return after
    }

    func reply(_ order: OrderRecord, pending: PaymentPending?) throws -> Reply {
        var reply = Reply.json(try answerView(order, pending: pending))
        reply.group = order.orderNo.group.value
        return reply
    }

    /// The order as an answer shows it: its refunds (read when it has any) and, while `paying`, why.
    func answerView(_ order: OrderRecord, pending: PaymentPending?) throws -> OrderView {
        let refunds = order.refundedAmount > 0 ? try hopping.withGroup(order.orderNo.group) { try $0.refunds(of: order.orderNo) } : []
        var view = view(order, refunds: refunds)
        view.pending = order.status == .paying ? (pending ?? .unknown) : nil
        return view
    }

    func view(_ order: OrderRecord, refunds: [RefundRecord]) -> OrderView {
        let failure = order.failureReason.map { PaymentFailure(reason: $0, message: order.failureMessage ?? $0) }
        return OrderView(orderNo: order.orderNo, storeId: order.storeID, deviceId: order.deviceID, amount: order.amount,
                         currency: order.currency, status: order.status, refundedAmount: order.refundedAmount,
                         items: order.items, clientRef: order.clientRef, createdAt: order.createdAt,
                         updatedAt: order.updatedAt, paidAt: order.paidAt, channelTxn: order.channelTxn,
                         failure: failure, refunds: refunds.map(refundView), tender: order.tender,
                         cashGiven: order.cashGiven, staffId: order.staffID, shiftId: order.shiftID)
    }

    func refundView(_ r: RefundRecord) -> RefundView {
        RefundView(refundNo: r.refundNo, orderNo: r.orderNo, amount: r.amount, currency: r.currency,
                   refundRef: r.refundRef, status: r.status, createdAt: r.createdAt)
    }
}
