import CashierChannels
import CashierCore
import CashierStorage
import Foundation

/// Compares the sandbox channel's whole books with the order data in every group (`cashierd reconcile`
/// with no options, and the drill): each order the groups call paid is paid at the channel for the same
/// amount and vice versa, refunds match one for one, and no payment code was charged twice. The comparison
/// is `ReconciliationComparison`'s, with the whole ledger as the statement and no day boundary.
public struct Reconciliation: Sendable {
    public var paidOrders = 0
    public var paidAtChannel = 0
    public var refunds = 0
    public var refundsAtChannel = 0
    public var doubleCharges = 0
    /// Orders still `paying` in their group (the channel's answer not recorded yet): not mismatches, but
    /// the books only agree once they settle (the terminal's query or the sweep records them).
    public var paymentsUnderWay = 0
    /// Refunds still `pending` in their group; not mismatches either.
    public var refundsUnderWay = 0
    public var mismatches: [String] = []
    public var unreadableGroups: [Int] = []
    /// The comparison's lines and counts.
    public var report = ReconciliationReport(lines: [], counts: .init(), neighbourDaysWanted: [])

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
        if refundsUnderWay > 0 {
            lines.append("refunds under way: \(refundsUnderWay) (still pending in their group; not mismatches: the sweep completes them)")
        }
        if !unreadableGroups.isEmpty { lines.append("groups not readable: \(unreadableGroups.map(String.init).joined(separator: ", "))") }
        lines += report.textLines(limitPerKind: 20)
        lines.append(isExact ? "reconciliation: EXACT" : "reconciliation: MISMATCH")
        return lines.joined(separator: "\n")
    }

    public static func run(runtime: ServiceRuntime, now: Int64) throws -> Reconciliation {
        var result = Reconciliation()
        let books = try runtime.sandbox.books(now: now)
        result.doubleCharges = books.doubleCharges
        let onStatement = Set(books.lines.map(\.outTradeNo))
        let (orders, unreadable) = readGroups(runtime) { order in
            order.paymentCode.flatMap { ChannelKind(paymentCode: $0) } == .sandbox || onStatement.contains(order.orderNo.digits)
        }
        result.unreadableGroups = unreadable
        let report = ReconciliationComparison(channel: .sandbox, statement: books.lines, window: nil, orders: orders).compare()
        result.report = report
        result.paidOrders = report.counts.paidInGroups
        result.paidAtChannel = report.counts.paymentsOnStatement
        result.refunds = report.counts.refundsInGroups
        result.refundsAtChannel = report.counts.refundsOnStatement
        result.paymentsUnderWay = report.lines(.underWay).filter { $0.refundNo == nil }.count
        result.refundsUnderWay = report.lines(.underWay).count - result.paymentsUnderWay
        result.mismatches = report.mismatches.map { $0.text }
        return result
    }

    /// Every order of every group that `keep` takes, with the refunds of those that have any; and the
    /// groups that could not be read.
    static func readGroups(_ runtime: ServiceRuntime, keep: (OrderRecord) -> Bool) -> (orders: [GroupOrder], unreadable: [Int]) {
        var orders: [GroupOrder] = []
        var unreadable: [Int] = []
        for health in runtime.hopping.health() {
            guard let tag = GroupTag(health.group) else { continue }
            do {
                try runtime.hopping.withGroup(tag) { group in
                    var after: OrderNumber?
                    while true {
                        let page = try group.allOrders(after: after, limit: 500)
                        for order in page where keep(order) {
                            // A reserved refund adds to the refunded amount at once, so an order without any has none.
                            orders.append(GroupOrder(order, refunds: order.refundedAmount > 0 ? try group.refunds(of: order.orderNo) : []))
                        }
                        guard page.count == 500 else { break }
                        after = page.last?.orderNo
                    }
                }
            } catch {
                unreadable.append(health.group)
            }
        }
        return (orders, unreadable)
    }
}

// MARK: - One channel, one day

/// The stores that share one statement: those whose settings for the channel are the same (the sandbox:
/// every store, since its one ledger serves them all), with the adapter their settings make.
public struct StatementAccount: Sendable {
    public var stores: [String]
    /// The adapter, or why the stores' settings cannot make one.
    public var channel: Result<PaymentChannel, AccountProblem>

    public struct AccountProblem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }
}

/// One statement of one day compared with the order data (`cashierd reconcile --channel … --date …`).
public struct DayReconciliation: Sendable {
    public var channel: ChannelKind
    public var day: String
    /// The stores whose orders were looked for on the statement.
    public var stores: [String]
    public var utcOffsetSeconds: Int64?
    /// Where the statement came from: the channel, or a file.
    public var statementFile: String?
    /// The neighbouring days' statements that were read, or why not.
    public var neighbours: [String: NeighbourStatement] = [:]
    public var report: ReconciliationReport?
    /// Why the comparison could not be made (no adapter, no statement).
    public var failure: String?
    public var unreadableGroups: [Int] = []

    /// True when every line matched or is under way, and the statement and every group were read.
    public var isExact: Bool { failure == nil && unreadableGroups.isEmpty && (report?.isExact ?? false) }

    public var window: StatementWindow? { utcOffsetSeconds.flatMap { StatementWindow(day: day, utcOffsetSeconds: $0) } }

    /// Reconciles `day` (`yyyy-MM-dd` in each channel's statement time zone) for every account: each account's
    /// statement (from the channel, or `statementFile` when there is one account) against the order data.
    /// An order or refund recorded within `ReconciliationComparison.defaultBoundaryMarginMs` of midnight
    /// and missing from the statement is looked for on the neighbouring day's statement, which is asked of
    /// the channel.
    public static func run(runtime: ServiceRuntime, channel kind: ChannelKind, day: String, accounts: [StatementAccount],
                           statementFile: (path: String, bytes: [UInt8])? = nil, now: Int64) -> [DayReconciliation] {
        var results: [DayReconciliation] = []
        var statements: [[StatementLine]?] = []
        for account in accounts {
            var result = DayReconciliation(channel: kind, day: day, stores: account.stores, statementFile: statementFile?.path)
            var lines: [StatementLine]?
            switch account.channel {
            case .failure(let problem):
                result.failure = problem.description
            case .success(let channel):
                result.utcOffsetSeconds = channel.statementUTCOffsetSeconds
                if result.window == nil {
                    result.failure = "\(day) is not a day (yyyy-MM-dd)"
                } else {
                    do {
                        let statement = try statementFile.map { try channel.statement(day: day, fromFile: $0.bytes) } ?? channel.statement(day: day)
                        lines = statement.lines
                    } catch {
                        result.failure = "the statement of \(day) could not be read: \(error)"
                    }
                }
            }
            results.append(result)
            statements.append(lines)
        }
        guard statements.contains(where: { $0 != nil }) else { return results }

        // The order data, once for every account: the orders on any statement, and the orders of the stores
        // compared that could matter for the day (paid or changed within a day of it, still paying, refunded).
        let numbers = Set(statements.compactMap { $0 }.flatMap { $0.map(\.outTradeNo) })
        let stores = Set(accounts.flatMap(\.stores))
        let windows = results.compactMap(\.window)
        let from = (windows.map(\.start).min() ?? 0) - 86_400_000
        let to = (windows.map(\.end).max() ?? 0) + 86_400_000
        let (orders, unreadable) = Reconciliation.readGroups(runtime) { o in
            if numbers.contains(o.orderNo.digits) { return true }
            guard stores.contains(o.storeID), o.paymentCode.flatMap({ ChannelKind(paymentCode: $0) }) == kind else { return false }
            return o.status == .paying || o.refundedAmount > 0 || [o.paidAt ?? o.updatedAt, o.updatedAt].contains { $0 >= from && $0 < to }
        }

        for index in results.indices {
            guard let lines = statements[index], case .success(let channel) = accounts[index].channel, let window = results[index].window else { continue }
            results[index].unreadableGroups = unreadable
            var comparison = ReconciliationComparison(channel: kind, statement: lines, window: window, orders: orders,
                                                      stores: Set(accounts[index].stores))
            var report = comparison.compare()
            if !report.neighbourDaysWanted.isEmpty {
                for neighbour in report.neighbourDaysWanted {
                    comparison.neighbours[neighbour] = Self.neighbour(neighbour, of: channel, now: now)
                }
                report = comparison.compare()
            }
            results[index].neighbours = comparison.neighbours
            results[index].report = report
        }
        return results
    }

    /// A neighbouring day's statement as the channel gives it, or why it cannot be had.
    static func neighbour(_ day: String, of channel: PaymentChannel, now: Int64) -> NeighbourStatement {
        guard let start = StatementDay.startMs(day, utcOffsetSeconds: channel.statementUTCOffsetSeconds) else {
            return .unavailable("\(day) is not a day")
        }
        guard start <= now else { return .unavailable("the day has not begun") }
        do {
            return .lines(try channel.statement(day: day).lines)
        } catch {
            return .unavailable("\(error)")
        }
    }

    /// The stores of `kind` grouped by their statements: only `storeID` when given (an error when it does
    /// not take the channel's codes), else every store that does. Throws `RuntimeError` when there is none.
    public static func accounts(runtime: ServiceRuntime, channel kind: ChannelKind, storeID: String?, now: Int64) throws -> [StatementAccount] {
        let stores: [StoreRecord]
        if let storeID {
            guard let store = try runtime.base.store(id: storeID) else { throw RuntimeError("no store \(storeID)") }
            stores = [store]
        } else {
            stores = try runtime.base.stores()
        }
        var keys: [String] = []
        var members: [String: [String]] = [:]
        for store in stores {
            guard let record = try runtime.base.storeChannels(storeID: store.id).first(where: { $0.channel == kind.rawValue }) else {
                if storeID != nil { throw RuntimeError("store \(store.id) does not take \(kind.displayName) codes") }
                continue
            }
            // Stores with the same settings are the same merchant account to the provider: one statement.
            let key = kind == .sandbox ? "" : record.settings
            if members[key] == nil { keys.append(key) }
            members[key, default: []].append(store.id)
        }
        guard !keys.isEmpty else { throw RuntimeError("no store takes \(kind.displayName) codes: nothing to reconcile") }
        return keys.map { key in
            let ids = members[key]!
            let channel: Result<PaymentChannel, StatementAccount.AccountProblem>
            do {
                if let made = try runtime.service.channels.channel(kind, storeID: ids[0], now: now) {
                    channel = .success(made)
                } else {
                    channel = .failure(.init(description: "store \(ids[0]) no longer takes \(kind.displayName) codes"))
                }
            } catch {
                channel = .failure(.init(description: "\(error)"))
            }
            return StatementAccount(stores: ids, channel: channel)
        }
    }

    // MARK: Printing

    /// The report as lines for a person: what was compared, the counts, each line with what to do.
    public var text: String {
        var out: [String] = []
        let source = statementFile.map { "from the file \($0)" } ?? "from the channel"
        if let w = window {
            let zone = w.utcOffsetSeconds == 0 ? "UTC" : "UTC\(w.utcOffsetSeconds < 0 ? "-" : "+")\(Self.two(abs(w.utcOffsetSeconds) / 3_600)):\(Self.two(abs(w.utcOffsetSeconds) / 60 % 60))"
            out.append("\(channel.rawValue) statement of \(day) (its days run midnight to midnight \(zone)), \(source)")
        } else {
            out.append("\(channel.rawValue) statement of \(day), \(source)")
        }
        out.append("stores: \(stores.joined(separator: ", "))")
        if let failure {
            out.append("not reconciled: \(failure)")
            out.append("reconciliation: NOT DONE")
            return out.joined(separator: "\n")
        }
        guard let report else { return out.joined(separator: "\n") }
        let c = report.counts
        out.append("paid orders in groups: \(c.paidInGroups); paid at channel: \(c.paymentsOnStatement)")
        out.append("refunds in groups: \(c.refundsInGroups); refunds at channel: \(c.refundsOnStatement)")
        func count(_ n: Int, _ thing: String) -> String { "\(n) \(thing)\(n == 1 ? "" : "s")" }
        out.append("matched: \(count(c.matchedPayments, "payment")), \(count(c.matchedRefunds, "refund")), \(count(c.matchedReversals, "reversal"))"
                   + " (\(c.matchedOnNeighbouringDay) of them on a neighbouring day's statement)")
        for (neighbour, statement) in neighbours.sorted(by: { $0.key < $1.key }) {
            switch statement {
            case .lines(let lines): out.append("neighbouring statement of \(neighbour): read (\(lines.count) lines)")
            case .unavailable(let reason): out.append("neighbouring statement of \(neighbour): not read (\(reason))")
            }
        }
        let underWay = report.lines(.underWay)
        out.append("payments under way: \(underWay.filter { $0.refundNo == nil }.count)")
        out.append("refunds under way: \(underWay.filter { $0.refundNo != nil }.count)")
        if !unreadableGroups.isEmpty {
            out.append("groups not readable: \(unreadableGroups.map(String.init).joined(separator: ", ")) (their orders are missing from the comparison)")
        }
        out += report.textLines(limitPerKind: nil)
        if isExact {
            out.append(underWay.isEmpty ? "reconciliation: EXACT" : "reconciliation: EXACT (\(underWay.count) under way: reconcile again once settled)")
        } else {
            let n = report.mismatches.count
            out.append("reconciliation: MISMATCH (\(n) \(n == 1 ? "line" : "lines") to act on)")
        }
        return out.joined(separator: "\n")
    }

    private static func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// `--json`: one account's document (keys snake_case and sorted by the encoder, every key present).
    public struct Document: Encodable, Sendable {
        let result: DayReconciliation

        enum Keys: String, CodingKey {
            case channel, day, stores, utcOffsetSeconds = "utc_offset_seconds", windowStart = "window_start", windowEnd = "window_end"
            case statementFile = "statement_file", failure, groupsNotReadable = "groups_not_readable", neighbours, counts, lines, exact
        }
        enum NeighbourKeys: String, CodingKey { case day, read, lines, problem }
        enum CountKeys: String, CodingKey {
            case paidInGroups = "paid_in_groups", paymentsOnStatement = "payments_on_statement", refundsInGroups = "refunds_in_groups"
            case refundsOnStatement = "refunds_on_statement", matchedPayments = "matched_payments", matchedRefunds = "matched_refunds"
            case matchedReversals = "matched_reversals", matchedOnNeighbouringDay = "matched_on_neighbouring_day"
            case paymentsUnderWay = "payments_under_way", refundsUnderWay = "refunds_under_way"
        }
        enum LineKeys: String, CodingKey {
            case kind, mismatch, orderNo = "order_no", refundNo = "refund_no", channelAmount = "channel_amount", groupAmount = "group_amount"
            case providerId = "provider_id", storeId = "store_id", detail, whatToDo = "what_to_do"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(result.channel.rawValue, forKey: .channel)
            try c.encode(result.day, forKey: .day)
            try c.encode(result.stores, forKey: .stores)
            try c.encode(result.utcOffsetSeconds, forKey: .utcOffsetSeconds)
            try c.encode(result.window?.start, forKey: .windowStart)
            try c.encode(result.window?.end, forKey: .windowEnd)
            try c.encode(result.statementFile, forKey: .statementFile)
            try c.encode(result.failure, forKey: .failure)
            try c.encode(result.unreadableGroups, forKey: .groupsNotReadable)
            var ns = c.nestedUnkeyedContainer(forKey: .neighbours)
            for (day, statement) in result.neighbours.sorted(by: { $0.key < $1.key }) {
                var n = ns.nestedContainer(keyedBy: NeighbourKeys.self)
                try n.encode(day, forKey: .day)
                switch statement {
                case .lines(let lines):
                    try n.encode(true, forKey: .read)
                    try n.encode(lines.count, forKey: .lines)
                    try n.encodeNil(forKey: .problem)
                case .unavailable(let reason):
                    try n.encode(false, forKey: .read)
                    try n.encodeNil(forKey: .lines)
                    try n.encode(reason, forKey: .problem)
                }
            }
            if let report = result.report {
                var k = c.nestedContainer(keyedBy: CountKeys.self, forKey: .counts)
                let counts = report.counts
                try k.encode(counts.paidInGroups, forKey: .paidInGroups)
                try k.encode(counts.paymentsOnStatement, forKey: .paymentsOnStatement)
                try k.encode(counts.refundsInGroups, forKey: .refundsInGroups)
                try k.encode(counts.refundsOnStatement, forKey: .refundsOnStatement)
                try k.encode(counts.matchedPayments, forKey: .matchedPayments)
                try k.encode(counts.matchedRefunds, forKey: .matchedRefunds)
                try k.encode(counts.matchedReversals, forKey: .matchedReversals)
                try k.encode(counts.matchedOnNeighbouringDay, forKey: .matchedOnNeighbouringDay)
                let underWay = report.lines(.underWay)
                try k.encode(underWay.filter { $0.refundNo == nil }.count, forKey: .paymentsUnderWay)
                try k.encode(underWay.filter { $0.refundNo != nil }.count, forKey: .refundsUnderWay)
                var ls = c.nestedUnkeyedContainer(forKey: .lines)
                for line in report.lines {
                    var l = ls.nestedContainer(keyedBy: LineKeys.self)
                    try l.encode(line.kind.rawValue, forKey: .kind)
                    try l.encode(line.kind.isMismatch, forKey: .mismatch)
                    try l.encode(line.orderNo, forKey: .orderNo)
                    try l.encode(line.refundNo, forKey: .refundNo)
                    try l.encode(line.channelAmount, forKey: .channelAmount)
                    try l.encode(line.groupAmount, forKey: .groupAmount)
                    try l.encode(line.providerID, forKey: .providerId)
                    try l.encode(line.storeID, forKey: .storeId)
                    try l.encode(line.detail, forKey: .detail)
                    try l.encode(line.kind.advice, forKey: .whatToDo)
                }
            } else {
                try c.encodeNil(forKey: .counts)
                try c.encode([String](), forKey: .lines)
            }
            try c.encode(result.isExact, forKey: .exact)
        }
    }

    /// `cashierd reconcile --channel … --date … --json`: every account's document.
    public struct Documents: Encodable, Sendable {
        public var statements: [Document]
        public var exact: Bool

        public init(_ results: [DayReconciliation]) {
            statements = results.map { Document(result: $0) }
            exact = results.allSatisfy(\.isExact)
        }
    }
}

extension ReconciliationReport.Line {
    /// One line for a person: the order (and refund) and what was found.
    public var text: String {
        "order \(orderNo)\(refundNo.map { $0.isEmpty ? "" : ", refund \($0)" } ?? "")\(storeID.map { " (store \($0))" } ?? ""): \(detail)"
    }
}

extension ReconciliationReport {
    /// Each kind that has lines: its name and count, what to do, then its lines (at most `limitPerKind`).
    func textLines(limitPerKind: Int?) -> [String] {
        var out: [String] = []
        for kind in Kind.allCases {
            let these = lines(kind)
            guard !these.isEmpty else { continue }
            out.append("\(kind.rawValue): \(these.count)\(kind.isMismatch ? "" : " (not a mismatch)")")
            out.append("  what to do: \(kind.advice)")
            let shown = limitPerKind.map { Array(these.prefix($0)) } ?? these
            out += shown.map { "  \($0.text)" }
            if shown.count < these.count { out.append("  … and \(these.count - shown.count) more") }
        }
        return out
    }
}
