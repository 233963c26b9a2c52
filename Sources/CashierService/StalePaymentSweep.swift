import CashierChannels
import CashierCore
import CashierStorage

/// What one sweep of stale payments found and did.
public struct StalePaymentSweepReport: Sendable, Equatable {
    /// `paying` orders looked at (last changed longer ago than `sweep.after_seconds`).
    public var examined = 0
    /// Orders the channel had already decided: now recorded as paid, declined or reversed.
    public var settled = 0
    /// Orders still undecided past `sweep.reverse_after_seconds`: reversed at the channel and recorded so.
    public var reversed = 0
    /// Orders left `paying` for the next sweep (still in time, or the channel or group did not answer).
    public var leftPaying = 0
    /// Refunds left `pending` (the terminal never sent them again) that the channel has now made.
    public var refundsCompleted = 0
    /// Pending refunds the channel or the group did not take this time.
    public var refundsLeftPending = 0
    /// Groups that could not be read this time.
    public var unreadableGroups: [Int] = []
}

extension CashierService {
    /// Settles `paying` orders that nobody is asking about any more.
    ///
    /// A `paying` order normally ends when its terminal queries it. This sweep is the backstop for the
    /// cases where no terminal will: the terminal vanished mid-sale, or a power cut took the record of
    /// the channel's answer (those records are written without waiting for the disk, see
    /// `WriteDurability.deferred`). For each `paying` order last changed before `now - sweep.after_seconds` it
    /// asks the channel, as a terminal's query would, and records a final answer. An order the channel
    /// still has not decided (the customer never confirmed, or the pay call never reached the channel)
    /// is reversed once it is `paying` for longer than `sweep.reverse_after_seconds`, as PAYMENTS.md says a terminal must at
    /// its deadline: money taken is returned, and nothing can be charged for it afterwards.
    ///
    /// Refunds get the same backstop: a refund reserved (with its supervisor's PIN) whose channel call
    /// failed stays `pending` until its terminal sends it again with the same reference. One still pending
    /// after `sweep.after_seconds` is sent to the channel under its own refund number (the channel keeps
    /// one refund per number, so a terminal's late retry cannot refund twice) and completed.
    public func sweepStalePayments(now: Int64, limitPerGroup: Int = 200) -> StalePaymentSweepReport {
        var report = StalePaymentSweepReport()
        let settings = configuration.sweep
        // Paying orders last changed, and refunds made, before this are stale.
        let staleBefore = now - settings.afterSeconds * 1_000
        let reverseBefore = now - settings.reverseAfterSeconds * 1_000
        for health in hopping.health() {
            guard let tag = GroupTag(health.group) else { continue }
            let stale: [OrderRecord]
            do {
                stale = try hopping.withGroup(tag) { try $0.stalePayingOrders(updatedBefore: staleBefore, limit: limitPerGroup) }
            } catch {
                report.unreadableGroups.append(health.group)
                continue
            }
            for order in stale {
                report.examined += 1
                switch settle(order, reverseIfPayingSince: reverseBefore, now: now) {
                case .settled: report.settled += 1
                case .reversed: report.reversed += 1
                case .leftPaying: report.leftPaying += 1
                }
            }
            let pending = (try? hopping.withGroup(tag) { try $0.stalePendingRefunds(createdBefore: staleBefore, limit: limitPerGroup) }) ?? []
            for refund in pending {
                if complete(refund, now: now) { report.refundsCompleted += 1 } else { report.refundsLeftPending += 1 }
            }
        }
        if report.settled > 0 { metrics.increment("cashierd_stale_payments_total", [("outcome", "settled")], by: Double(report.settled)) }
        if report.reversed > 0 { metrics.increment("cashierd_stale_payments_total", [("outcome", "reversed")], by: Double(report.reversed)) }
        if report.refundsCompleted > 0 {
            metrics.increment("cashierd_stale_payments_total", [("outcome", "refund_completed")], by: Double(report.refundsCompleted))
        }
        return report
    }

    private enum SweepOutcome { case settled, reversed, leftPaying }

    /// Asks the channel about one stale order; reverses it if it is still undecided and has been `paying`
    /// (claimed, or last asked about) since before `reverseBefore`.
    private func settle(_ order: OrderRecord, reverseIfPayingSince reverseBefore: Int64, now: Int64) -> SweepOutcome {
        guard let (after, _) = try? refreshWithChannel(order, now: now, reverseAtDeadline: false) else { return .leftPaying }
        if after.status != .paying { return .settled }
        guard order.updatedAt < reverseBefore else { return .leftPaying }
        do {
            try channel(of: order, now: now).reverse(outTradeNo: order.orderNo.digits, payStartedAt: order.updatedAt, now: now)
        } catch {
            return .leftPaying
        }
        metrics.increment("cashierd_payments_total", [("outcome", "reversed")])
        let result = try? hopping.withGroup(order.orderNo.group) {
            try $0.transition(order.orderNo, from: [.paying], change: OrderChange(status: .reversed), now: now)
        }
        // Reversed at the channel either way; if the group did not take the record, the next sweep's query
        // finds the reversal and records it.
        return result?.0.status == .reversed ? .reversed : .leftPaying
    }

    /// Sends a pending refund to the channel again and marks it succeeded; false if either step failed.
    private func complete(_ refund: RefundRecord, now: Int64) -> Bool {
        do {
            guard let order = try hopping.withGroup(refund.orderNo.group, { try $0.order(refund.orderNo) }) else { return false }
            let channel = try channel(of: order, now: now)
            // Accepted is not refunded: a refund the channel already has is asked about, not sent again.
            var state = try channel.queryRefund(refundNo: refund.refundNo.text, outTradeNo: order.orderNo.digits, now: now)
            if state == .notFound {
                state = try channel.refund(ChannelRefundRequest(refundNo: refund.refundNo.text, outTradeNo: order.orderNo.digits,
                                                                orderAmount: order.amount, amount: refund.amount,
                                                                currency: refund.currency, reason: refund.reason, now: now))
            }
            if case .refused = state {
                // Refused at the channel now: the reservation goes (it will never be made).
                _ = try hopping.withGroup(refund.orderNo.group) { try $0.dropRefusedRefund(refund.refundNo, now: now) }
                return false
            }
            guard state == .succeeded else { return false }
            try hopping.withGroup(refund.orderNo.group) { try $0.completeRefund(refund.refundNo, now: now) }
            return true
        } catch {
            return false
        }
    }
}
