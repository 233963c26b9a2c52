import CashierChannels
import CashierCore
import CashierStorage

/// Compares the sandbox channel's books with the order data in every group: each order the groups
/// call paid is paid at the channel for the same amount and vice versa, refunds match one for one,
/// and no payment code was charged twice.
public struct Reconciliation: Sendable {
    public var paidOrders = 0
    public var paidAtChannel = 0
    public var refunds = 0
    public var refundsAtChannel = 0
    public var doubleCharges = 0
    /// Orders still `paying` in their group (the channel's answer not recorded yet): not mismatches, but
    /// the books only agree once they settle (the terminal's query or the sweep records them).
    public var paymentsUnderWay = 0
    public var mismatches: [String] = []
    public var unreadableGroups: [Int] = []

    public var isExact: Bool { mismatches.isEmpty && doubleCharges == 0 && unreadableGroups.isEmpty }

    public var summary: String {
        var lines = [
            "paid orders in groups: \(paidOrders); paid at channel: \(paidAtChannel)",
            "refunds in groups: \(refunds); refunds at channel: \(refundsAtChannel)",
            "double charges: \(doubleCharges)",
        ]
        if paymentsUnderWay > 0 {
            lines.append("payments under way: \(paymentsUnderWay) (not yet settled in their group; they are not mismatches: run again once they settle, within a minute or two)")
        }
        if !unreadableGroups.isEmpty { lines.append("groups not readable: \(unreadableGroups.map(String.init).joined(separator: ", "))") }
        lines += mismatches.prefix(20).map { "mismatch: \($0)" }
        lines.append(isExact ? "reconciliation: EXACT" : "reconciliation: MISMATCH")
        return lines.joined(separator: "\n")
    }

    public static func run(runtime: ServiceRuntime, now: Int64) throws -> Reconciliation {
        var report = Reconciliation()
        let books = try runtime.sandbox.books(now: now)
        report.paidAtChannel = books.paid.count
        report.refundsAtChannel = books.refunds.count
        report.doubleCharges = books.doubleCharges
        var seenPaid = Set<String>()
        var seenRefunds = Set<String>()
        var seenPaying = Set<String>()
        for health in runtime.hopping.health() {
            guard let tag = GroupTag(health.group) else { continue }
            do {
                try runtime.hopping.withGroup(tag) { group in
                    var after: OrderNumber?
                    while true {
                        let page = try group.allOrders(after: after, limit: 500)
                        for order in page {
                            if order.status == .paying {
                                report.paymentsUnderWay += 1
                                seenPaying.insert(order.orderNo.digits)
                            }
                            if order.status == .paid {
                                report.paidOrders += 1
                                seenPaid.insert(order.orderNo.digits)
                                if books.paid[order.orderNo.digits] != order.amount {
                                    report.mismatches.append("order \(order.orderNo) is paid \(order.amount) in group \(tag) but \(books.paid[order.orderNo.digits].map(String.init) ?? "not paid") at the channel")
                                }
                            }
                            if order.refundedAmount > 0 {
                                for refund in try group.refunds(of: order.orderNo) where refund.status == .succeeded {
                                    report.refunds += 1
                                    seenRefunds.insert(refund.refundNo.text)
                                    if books.refunds[refund.refundNo.text] != refund.amount {
                                        report.mismatches.append("refund \(refund.refundNo) of \(refund.amount) is not at the channel")
                                    }
                                }
                            }
                        }
                        guard page.count == 500 else { break }
                        after = page.last?.orderNo
                    }
                }
            } catch {
                report.unreadableGroups.append(health.group)
            }
        }
        for no in books.paid.keys where !seenPaid.contains(no) && !seenPaying.contains(no) {
            report.mismatches.append("the channel charged order \(no), which no group records as paid")
        }
        for no in books.refunds.keys where !seenRefunds.contains(no) {
            report.mismatches.append("the channel refunded \(no), which no group records as succeeded")
        }
        return report
    }
}
