import CashierChannels
import CashierCore
import CashierStorage

/// One order as its group holds it, with its refunds: what reconciliation compares with a statement.
public struct GroupOrder: Sendable, Equatable {
    public var order: OrderRecord
    public var refunds: [RefundRecord]

    public init(_ order: OrderRecord, refunds: [RefundRecord] = []) {
        self.order = order
        self.refunds = refunds
    }

    /// The channel its payment went to, by its payment code; nil when no payment was started.
    public var channel: ChannelKind? { order.paymentCode.flatMap { ChannelKind(paymentCode: $0) } }
}

/// One statement day: from midnight to midnight in the channel's statement time zone.
public struct StatementWindow: Sendable, Equatable {
    public let day: String
    /// Seconds east of UTC (`PaymentChannel.statementUTCOffsetSeconds`).
    public let utcOffsetSeconds: Int64
    /// Unix ms of the day's first moment there.
    public let start: Int64

    /// Nil for a malformed day.
    public init?(day: String, utcOffsetSeconds: Int64) {
        guard let start = StatementDay.startMs(day, utcOffsetSeconds: utcOffsetSeconds) else { return nil }
        self.day = day
        self.utcOffsetSeconds = utcOffsetSeconds
        self.start = start
    }

    /// The first moment after the day (the next day's midnight).
    public var end: Int64 { start + 86_400_000 }
    public var previousDay: String { StatementDay.day(ofMs: start - 1, utcOffsetSeconds: utcOffsetSeconds) }
    public var nextDay: String { StatementDay.day(ofMs: end, utcOffsetSeconds: utcOffsetSeconds) }
    public func contains(_ ms: Int64) -> Bool { ms >= start && ms < end }
}

/// A neighbouring day's statement, looked at for what happened close to midnight.
public enum NeighbourStatement: Sendable, Equatable {
    case lines([StatementLine])
    /// It could not be had (not made yet, no answer): why.
    case unavailable(String)
}

/// The comparison itself, pure: a channel's statement against the order data, line by line.
///
/// Both sides are walked. Every statement line is compared with the order (or refund) of its number,
/// whichever store it belongs to. Every order of the stores in `stores` paid with the channel's codes and
/// recorded paid in the window, and every refund of theirs recorded made in it, is looked for on the
/// statement. An order or refund recorded within `boundaryMarginMs` of midnight is also looked for on that
/// side's neighbouring day's statement before it is called missing (the group records a payment when it
/// learns of it, which can be after the channel's midnight; the clocks also differ by a little): that
/// statement is given in `neighbours`, or, when it is not given, the report names its day in
/// `neighbourDaysWanted` so that the caller can fetch it and compare again.
///
/// Orders still `paying` and refunds still `pending` are reported as under way, never as mismatches,
/// whether the channel already shows them or not.
public struct ReconciliationComparison: Sendable {
    public var channel: ChannelKind
    public var statement: [StatementLine]
    /// Nil: the statement is the channel's whole books (the sandbox ledger), and every order counts.
    public var window: StatementWindow?
    /// By day.
    public var neighbours: [String: NeighbourStatement]
    public var orders: [GroupOrder]
    /// The stores whose orders must be on the statement; nil: every store.
    public var stores: Set<String>?
    public var boundaryMarginMs: Int64

    public static let defaultBoundaryMarginMs: Int64 = 15 * 60_000

    public init(channel: ChannelKind, statement: [StatementLine], window: StatementWindow?, neighbours: [String: NeighbourStatement] = [:],
                orders: [GroupOrder], stores: Set<String>? = nil, boundaryMarginMs: Int64 = ReconciliationComparison.defaultBoundaryMarginMs) {
        self.channel = channel
        self.statement = statement
        self.window = window
        self.neighbours = neighbours
        self.orders = orders
        self.stores = stores
        self.boundaryMarginMs = boundaryMarginMs
    }

    public func compare() -> ReconciliationReport {
        var run = Run(self)
        run.statementSide()
        run.orderSide()
        return run.report()
    }

    /// One comparison's working state.
    private struct Run {
        let c: ReconciliationComparison
        var byOrder: [String: GroupOrder] = [:]
        var byRefund: [String: (order: GroupOrder, refund: RefundRecord)] = [:]
        var lines: [ReconciliationReport.Line] = []
        var counts = ReconciliationReport.Counts()
        var wanted: Set<String> = []
        /// Orders and refunds already given a line or matched from the statement's side.
        var seenOrders: Set<String> = []
        var seenRefunds: Set<String> = []
        /// Statement refund lines (by index) taken as a reversal's return.
        var consumed: Set<Int> = []

        init(_ c: ReconciliationComparison) {
            self.c = c
            for o in c.orders {
                byOrder[o.order.orderNo.digits] = o
                for r in o.refunds { byRefund[r.refundNo.text] = (o, r) }
            }
        }

        func money(_ minor: Int64) -> String { Money(minorUnits: minor).decimalString }

        func inScope(_ o: GroupOrder) -> Bool {
            o.channel == c.channel && (c.stores.map { $0.contains(o.order.storeID) } ?? true)
        }

        func inWindow(_ ms: Int64) -> Bool { c.window?.contains(ms) ?? true }

        /// A moment as the channel's statement days put it.
        func time(_ ms: Int64) -> String {
            let offset = c.window?.utcOffsetSeconds ?? 0
            let local = ms / 1_000 + offset
            let secondsOfDay = ((local % 86_400) + 86_400) % 86_400
            func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
            let sign = offset < 0 ? "-" : "+"
            let zone = offset == 0 ? "UTC" : "UTC\(sign)\(two(abs(offset) / 3_600)):\(two(abs(offset) / 60 % 60))"
            return "\(StatementDay.day(ofMs: ms, utcOffsetSeconds: offset)) \(two(secondsOfDay / 3_600)):\(two(secondsOfDay / 60 % 60)):\(two(secondsOfDay % 60)) \(zone)"
        }

        /// The neighbouring days whose statements may hold what the group recorded at `ms`.
        func neighbourDays(of ms: Int64) -> [String] {
            guard let w = c.window else { return [] }
            var days: [String] = []
            if ms < w.start + c.boundaryMarginMs { days.append(w.previousDay) }
            if ms >= w.end - c.boundaryMarginMs { days.append(w.nextDay) }
            return days
        }

        /// Looks for a line on the neighbouring statements of `ms`: the line and its day, or what could not be read.
        mutating func lookAround(_ ms: Int64, _ matches: (StatementLine) -> Bool) -> (found: (StatementLine, String)?, looked: [String], unread: [String]) {
            var looked: [String] = []
            var unread: [String] = []
            for day in neighbourDays(of: ms) {
                switch c.neighbours[day] {
                case .lines(let neighbour):
                    if let line = neighbour.first(where: matches) { return ((line, day), looked, unread) }
                    looked.append(day)
                case .unavailable(let reason):
                    unread.append("\(day), which could not be read (\(reason))")
                case nil:
                    wanted.insert(day)
                    unread.append("\(day), which was not read")
                }
            }
            return (nil, looked, unread)
        }

        func missingText(_ looked: [String], _ unread: [String]) -> String {
            var text = ""
            if !looked.isEmpty { text += " nor the statement of \(looked.joined(separator: " or "))" }
            if !unread.isEmpty { text += "; it may be on the statement of \(unread.joined(separator: " or "))" }
            return text
        }

        mutating func add(_ kind: ReconciliationReport.Kind, order: String, refund: String? = nil, channel: Int64? = nil, group: Int64? = nil,
                          provider: String? = nil, store: String? = nil, _ detail: String) {
            lines.append(.init(kind: kind, orderNo: order, refundNo: refund, channelAmount: channel, groupAmount: group,
                               providerID: provider, storeID: store, detail: detail))
        }

        // MARK: The statement's side

        mutating func statementSide() {
            var charged: Set<String> = []
            var refunded: Set<String> = []
            for line in c.statement where line.kind == .payment {
                counts.paymentsOnStatement += 1
                let no = line.outTradeNo
                let charge = "the channel charged \(money(line.amount)) (\(line.providerID))"
                guard charged.insert(no).inserted else {
                    add(.chargedNotRecorded, order: no, channel: line.amount, provider: line.providerID,
                        "\(charge) a second time on this statement")
                    continue
                }
                guard let o = byOrder[no] else {
                    add(.chargedNotRecorded, order: no, channel: line.amount, provider: line.providerID, "\(charge) for an order no group has")
                    continue
                }
                seenOrders.insert(no)
                let store = o.order.storeID
                if let kind = o.channel, kind != c.channel {
                    add(.chargedNotRecorded, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: store,
                        "\(charge), but the group records the order paid with a \(kind.displayName) code")
                    continue
                }
                switch o.order.status {
                case .paid:
                    if line.amount == o.order.amount {
                        counts.matchedPayments += 1
                    } else {
                        add(.amountDiffers, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: store,
                            "the channel charged \(money(line.amount)), the group records \(money(o.order.amount)) paid")
                    }
                case .paying:
                    add(.underWay, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: store,
                        "\(charge); the group still records the payment under way (paying)")
                case .reversed:
                    reversal(line, o)
                case .created, .declined, .closed:
                    add(.chargedNotRecorded, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: store,
                        "\(charge), but the group records the order \(o.order.status.rawValue)")
                }
            }
            for (index, line) in c.statement.enumerated() where line.kind == .refund {
                counts.refundsOnStatement += 1
                guard !consumed.contains(index) else { continue }
                let no = line.outTradeNo
                if let refundNo = line.refundNo, case let (o, r)? = byRefund[refundNo] {
                    seenRefunds.insert(refundNo)
                    let store = o.order.storeID
                    guard refunded.insert(refundNo).inserted else {
                        add(.refundOnlyAtChannel, order: o.order.orderNo.digits, refund: refundNo, channel: line.amount, group: r.amount,
                            provider: line.providerID, store: store, "the channel refunded \(money(line.amount)) under \(refundNo) a second time on this statement")
                        continue
                    }
                    switch r.status {
                    case .succeeded where line.amount == r.amount:
                        counts.matchedRefunds += 1
                    case .succeeded:
                        add(.amountDiffers, order: o.order.orderNo.digits, refund: refundNo, channel: line.amount, group: r.amount,
                            provider: line.providerID, store: store,
                            "the channel refunded \(money(line.amount)) under \(refundNo), the group records \(money(r.amount))")
                    case .pending:
                        add(.underWay, order: o.order.orderNo.digits, refund: refundNo, channel: line.amount, group: r.amount,
                            provider: line.providerID, store: store,
                            "the channel refunded \(money(line.amount)) under \(refundNo); the group still records the refund pending")
                    }
                    continue
                }
                // A return without a refund number of ours: a reversal (Alipay's cancel of a paid trade) or a
                // refund made at the channel's console.
                if line.refundNo == nil || line.refundNo == "", let o = byOrder[no], o.order.status == .reversed {
                    seenOrders.insert(no)
                    if line.amount <= o.order.amount {
                        counts.matchedReversals += 1
                    } else {
                        add(.amountDiffers, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: o.order.storeID,
                            "the channel returned \(money(line.amount)) when it reversed the payment, the order is \(money(o.order.amount))")
                    }
                    continue
                }
                let which = line.refundNo.map { $0.isEmpty ? "without a refund number" : "under \($0)" } ?? "without a refund number"
                let known = byOrder[no].map { "the group records the order \($0.order.status.rawValue) and no such refund" } ?? "no group has the order"
                add(.refundOnlyAtChannel, order: no, refund: line.refundNo, channel: line.amount, provider: line.providerID,
                    store: byOrder[no]?.order.storeID, "the channel refunded \(money(line.amount)) \(which); \(known)")
            }
        }

        /// A payment on the statement whose order the group records reversed: its money must have gone back,
        /// by a return on this statement or, for a reversal close to midnight, on the next day's.
        mutating func reversal(_ line: StatementLine, _ o: GroupOrder) {
            let no = o.order.orderNo.digits
            let ours = byRefund
            func isReturn(_ l: StatementLine) -> Bool {
                l.kind == .refund && l.outTradeNo == no && (l.refundNo == nil || l.refundNo == "" || ours[l.refundNo!] == nil)
            }
            let returns = c.statement.indices.filter { !consumed.contains($0) && isReturn(c.statement[$0]) }
            if !returns.isEmpty, returns.map({ c.statement[$0].amount }).reduce(0, +) == line.amount {
                consumed.formUnion(returns)
                counts.matchedReversals += 1
                return
            }
            if returns.isEmpty {
                let around = lookAround(o.order.updatedAt, isReturn)
                if let found = around.found?.0, found.amount == line.amount {
                    counts.matchedReversals += 1
                    counts.matchedOnNeighbouringDay += 1
                    return
                }
                add(.chargedNotRecorded, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: o.order.storeID,
                    "the channel charged \(money(line.amount)) (\(line.providerID)) and shows no return of it, but the group records the order reversed"
                        + (around.unread.isEmpty ? "" : "; the return may be on the statement of \(around.unread.joined(separator: " or "))"))
                return
            }
            add(.chargedNotRecorded, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: o.order.storeID,
                "the channel charged \(money(line.amount)) (\(line.providerID)) and returned \(money(returns.map { c.statement[$0].amount }.reduce(0, +))) of it, but the group records the order reversed")
            consumed.formUnion(returns)
        }

        // MARK: The order data's side

        mutating func orderSide() {
            let onStatement = Set(c.statement.filter { $0.kind == .payment }.map(\.outTradeNo))
            let refundsOnStatement = Set(c.statement.compactMap { $0.kind == .refund ? $0.refundNo : nil })
            for o in c.orders.sorted(by: { $0.order.orderNo < $1.order.orderNo }) where inScope(o) {
                let no = o.order.orderNo.digits
                let store = o.order.storeID
                switch o.order.status {
                case .paid:
                    let at = o.order.paidAt ?? o.order.updatedAt
                    guard inWindow(at) else { break }
                    counts.paidInGroups += 1
                    guard !onStatement.contains(no) else { break }
                    let around = lookAround(at) { $0.kind == .payment && $0.outTradeNo == no }
                    if case let (line, day)? = around.found {
                        if line.amount == o.order.amount {
                            counts.matchedPayments += 1
                            counts.matchedOnNeighbouringDay += 1
                        } else {
                            add(.amountDiffers, order: no, channel: line.amount, group: o.order.amount, provider: line.providerID, store: store,
                                "the statement of \(day) has the channel charging \(money(line.amount)), the group records \(money(o.order.amount)) paid")
                        }
                    } else {
                        add(.recordedNotCharged, order: no, group: o.order.amount, store: store,
                            "the group records \(money(o.order.amount)) paid at \(time(at)), and this statement has no payment for it"
                                + missingText(around.looked, around.unread))
                    }
                case .paying where !seenOrders.contains(no):
                    guard c.window.map({ o.order.updatedAt >= $0.start - c.boundaryMarginMs && o.order.updatedAt < $0.end }) ?? true else { break }
                    add(.underWay, order: no, group: o.order.amount, store: store,
                        "the payment of \(money(o.order.amount)) started at \(time(o.order.updatedAt)) is still under way (paying) and is not on the statement")
                default:
                    break
                }
                for r in o.refunds.sorted(by: { $0.refundNo.text < $1.refundNo.text }) {
                    let refundNo = r.refundNo.text
                    switch r.status {
                    case .succeeded:
                        let at = r.completedAt ?? r.createdAt
                        guard inWindow(at) else { continue }
                        counts.refundsInGroups += 1
                        guard !refundsOnStatement.contains(refundNo) else { continue }
                        let around = lookAround(at) { $0.kind == .refund && $0.refundNo == refundNo }
                        if case let (line, day)? = around.found {
                            if line.amount == r.amount {
                                counts.matchedRefunds += 1
                                counts.matchedOnNeighbouringDay += 1
                            } else {
                                add(.amountDiffers, order: no, refund: refundNo, channel: line.amount, group: r.amount, provider: line.providerID, store: store,
                                    "the statement of \(day) has the channel refunding \(money(line.amount)) under \(refundNo), the group records \(money(r.amount))")
                            }
                        } else {
                            add(.refundOnlyInGroups, order: no, refund: refundNo, group: r.amount, store: store,
                                "the group records refund \(refundNo) of \(money(r.amount)) (reference \(r.refundRef)) made at \(time(at)), and this statement has no such refund"
                                    + missingText(around.looked, around.unread))
                        }
                    case .pending where !seenRefunds.contains(refundNo):
                        guard c.window.map({ r.createdAt >= $0.start - c.boundaryMarginMs && r.createdAt < $0.end }) ?? true else { continue }
                        add(.underWay, order: no, refund: refundNo, group: r.amount, store: store,
                            "refund \(refundNo) of \(money(r.amount)) reserved at \(time(r.createdAt)) is still pending (the channel has not confirmed it)")
                    case .pending:
                        continue
                    }
                }
            }
        }

        func report() -> ReconciliationReport {
            let order = Dictionary(uniqueKeysWithValues: ReconciliationReport.Kind.allCases.enumerated().map { ($1, $0) })
            let sorted = lines.enumerated().sorted { a, b in
                let (ka, kb) = (order[a.element.kind]!, order[b.element.kind]!)
                if ka != kb { return ka < kb }
                if a.element.orderNo != b.element.orderNo { return a.element.orderNo < b.element.orderNo }
                return a.offset < b.offset
            }.map(\.element)
            return ReconciliationReport(lines: sorted, counts: counts, neighbourDaysWanted: wanted.sorted())
        }
    }
}

/// What a comparison found: one line for everything that is not matched, and the counts.
public struct ReconciliationReport: Sendable, Equatable {
    /// The kinds of line, in the order reports list them.
    public enum Kind: String, CaseIterable, Sendable {
        /// On the statement as a payment; the group has no paid order for it.
        case chargedNotRecorded = "charged-not-recorded"
        /// Recorded paid in the group; no payment on the statement.
        case recordedNotCharged = "recorded-not-charged"
        /// On both sides, for different amounts (a payment or a refund).
        case amountDiffers = "amount-differs"
        /// A refund on the statement that no group records as made.
        case refundOnlyAtChannel = "refund-only-at-channel"
        /// A refund recorded made in the group that is not on the statement.
        case refundOnlyInGroups = "refund-only-in-groups"
        /// A payment still `paying` or a refund still `pending`: being decided, not a mismatch.
        case underWay = "under-way"

        public var isMismatch: Bool { self != .underWay }

        /// What the operator should do about a line of this kind.
        public var advice: String {
            switch self {
            case .chargedNotRecorded:
                return "query the order with `cashier order N` (a query asks the channel and records its answer) or wait for the sweep; "
                    + "if it stays so, the customer was charged for a sale the till does not have: refund it at the channel "
                    + "(in its merchant console, by the provider's id shown)."
            case .recordedNotCharged:
                return "the till counts this sale as paid but the channel has no payment for it: look the order number up in the "
                    + "channel's merchant console; if the group recorded it close to midnight, reconcile the neighbouring day too. "
                    + "If the channel never took the money the goods left unpaid: collect from the customer again or write the sale "
                    + "off. Never refund it: nothing was charged."
            case .amountDiffers:
                return "compare `cashier order N` with the channel's record: refund the difference at the channel if the customer "
                    + "paid too much, collect what is missing if too little. Amounts do not change by themselves: find out who "
                    + "changed the order data or the statement file."
            case .refundOnlyAtChannel:
                return "the channel gave money back that no group records as a refund: someone refunded in the channel's console, "
                    + "or the refund was made from another data directory. Find out who and why, and if the sale stands, "
                    + "record the refund in the books by hand."
            case .refundOnlyInGroups:
                return "the group says refunded but the channel has not given the money back: look the refund number up in the "
                    + "channel's console; if it is not there, make the refund there under that number (the channel refunds a "
                    + "number once) or give the money back another way. Sending it again from a till does not reach the "
                    + "channel: the group already calls it done."
            case .underWay:
                return "not a mismatch: the payment or refund is still being decided. The terminal's query or the sweep settles it "
                    + "within minutes (a payment still undecided after `sweep.reverse_after_seconds` is reversed); reconcile again "
                    + "once it has."
            }
        }
    }

    public struct Line: Sendable, Equatable {
        public var kind: Kind
        /// The order number (the channel's `out_trade_no`).
        public var orderNo: String
        public var refundNo: String?
        /// Minor units, as the statement has it; nil when the statement has nothing.
        public var channelAmount: Int64?
        /// Minor units, as the group has it; nil when the group has nothing.
        public var groupAmount: Int64?
        /// The provider's transaction or refund id, when the statement has the line.
        public var providerID: String?
        /// The order's store, when a group has the order.
        public var storeID: String?
        /// What was found, as a sentence.
        public var detail: String
    }

    public struct Counts: Sendable, Equatable {
        public var paymentsOnStatement = 0
        public var refundsOnStatement = 0
        /// Orders of the stores compared, paid with the channel's codes, recorded paid in the window.
        public var paidInGroups = 0
        /// Their refunds recorded made in the window.
        public var refundsInGroups = 0
        public var matchedPayments = 0
        public var matchedRefunds = 0
        /// Payments on the statement returned by a reversal, whose orders the groups record reversed.
        public var matchedReversals = 0
        /// Of the matched, those found on a neighbouring day's statement.
        public var matchedOnNeighbouringDay = 0

        public init() {}
    }

    /// Sorted by kind (in `Kind`'s order), then order number.
    public var lines: [Line]
    public var counts: Counts
    /// Neighbouring days whose statements, not given, could decide a line: fetch them and compare again.
    public var neighbourDaysWanted: [String]

    public var isExact: Bool { !lines.contains { $0.kind.isMismatch } }
    public var mismatches: [Line] { lines.filter { $0.kind.isMismatch } }
    public func lines(_ kind: Kind) -> [Line] { lines.filter { $0.kind == kind } }
}
