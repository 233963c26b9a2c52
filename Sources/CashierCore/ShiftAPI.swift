/// Shifts: a cashier's working period at one terminal, from the float counted into the drawer to the
/// cash counted out of it, with its running (X) and closing (Z) reports. Kept by the service in the base
/// data, so a report survives the terminal (docs/PROTOCOL.md, "Shifts").

extension API.Path {
    public static let shifts = "/v1/shifts"
    public static let currentShift = "/v1/shifts/current"
    public static func shift(_ id: String) -> String { "/v1/shifts/\(id)" }
    public static func closeShift(_ id: String) -> String { "/v1/shifts/\(id)/close" }
}

/// `POST /v1/shifts`: opens a shift at this terminal.
public struct OpenShiftRequest: Codable, Equatable, Sendable {
    /// The staff member opening it (signed in at the terminal).
    public var staffId: String
    /// The cash counted into the drawer to give change from, minor units (0 or more).
    public var openingFloat: Int64
    public init(staffId: String, openingFloat: Int64) { self.staffId = staffId; self.openingFloat = openingFloat }
}

/// `POST /v1/shifts/{id}/close`: closes the shift with the cash counted in the drawer.
public struct CloseShiftRequest: Codable, Equatable, Sendable {
    public var staffId: String
    /// Everything in the drawer, the float included, minor units.
    public var countedCash: Int64
    /// Needed when the counted cash differs from the expected by more than the store's limit.
    public var supervisorPin: String?
    public init(staffId: String, countedCash: Int64, supervisorPin: String? = nil) {
        self.staffId = staffId; self.countedCash = countedCash; self.supervisorPin = supervisorPin
    }
}

public enum ShiftStatus: String, Codable, Sendable {
    case open
    case closed
}

public struct ShiftView: Codable, Equatable, Sendable {
    public var shiftId: String
    public var storeId: String
    public var deviceId: String
    public var status: ShiftStatus
    public var currency: String
    public var openingFloat: Int64
    public var openedAt: Int64
    public var openedBy: StaffView
    public var closedAt: Int64?
    public var closedBy: StaffView?
    public var countedCash: Int64?
    /// The closing report's number, counted per store from 1; set once, at close.
    public var zNumber: Int?
    public init(shiftId: String, storeId: String, deviceId: String, status: ShiftStatus, currency: String, openingFloat: Int64,
                openedAt: Int64, openedBy: StaffView, closedAt: Int64? = nil, closedBy: StaffView? = nil,
                countedCash: Int64? = nil, zNumber: Int? = nil) {
        self.shiftId = shiftId; self.storeId = storeId; self.deviceId = deviceId; self.status = status
        self.currency = currency; self.openingFloat = openingFloat; self.openedAt = openedAt; self.openedBy = openedBy
        self.closedAt = closedAt; self.closedBy = closedBy; self.countedCash = countedCash; self.zNumber = zNumber
    }
}

/// Sales or refunds of one tender in a report.
public struct TenderTotal: Codable, Equatable, Sendable {
    /// `cash`, or the channel of a payment code: `wechatpay`, `alipay`, `sandbox`.
    public var tender: String
    public var count: Int
    public var amount: Int64
    public init(tender: String, count: Int, amount: Int64) { self.tender = tender; self.count = count; self.amount = amount }

    /// The name people read.
    public var displayName: String {
        if tender == Tender.cash.rawValue { return "Cash" }
        return ChannelKind(rawValue: tender)?.displayName ?? tender
    }
}

/// A shift's totals: the X report while it is open, the Z report (numbered, made once) when it closes.
public struct ShiftReport: Codable, Equatable, Sendable {
    /// `X` (running totals, any time) or `Z` (at close, kept as it was made).
    public var kind: String
    public var shift: ShiftView
    public var generatedAt: Int64
    /// Paid sales of the shift, by tender.
    public var sales: [TenderTotal]
    /// Refunds made during the shift (of any shift's sales), by the tender of the sale refunded.
    public var refunds: [TenderTotal]
    /// Sales cancelled before anything was paid.
    public var voids: Int
    /// Payments under way that were cancelled (money returned, if any was taken).
    public var reversals: Int
    public var declined: Int
    /// Code payments whose outcome was not final when the report was made.
    public var unsettled: [OrderNumber]
    /// Float plus cash sales minus cash refunds.
    public var cashExpected: Int64
    public var cashCounted: Int64?
    /// Counted minus expected (negative: cash is missing).
    public var cashDifference: Int64?
    /// An X report only: order groups that could not be read, so their sales are missing from it.
    public var missingGroups: [Int]?
    public init(kind: String, shift: ShiftView, generatedAt: Int64, sales: [TenderTotal], refunds: [TenderTotal], voids: Int,
                reversals: Int, declined: Int, unsettled: [OrderNumber], cashExpected: Int64, cashCounted: Int64? = nil,
                cashDifference: Int64? = nil) {
        self.kind = kind; self.shift = shift; self.generatedAt = generatedAt; self.sales = sales; self.refunds = refunds
        self.voids = voids; self.reversals = reversals; self.declined = declined; self.unsettled = unsettled
        self.cashExpected = cashExpected; self.cashCounted = cashCounted; self.cashDifference = cashDifference
    }

    public var salesTotal: Int64 { sales.reduce(0) { $0 + $1.amount } }
    public var refundsTotal: Int64 { refunds.reduce(0) { $0 + $1.amount } }
}

/// The answer to every shift call: the shift and its report (X while open, Z once closed).
public struct ShiftResponse: Codable, Equatable, Sendable {
    public var shift: ShiftView
    public var report: ShiftReport
    public init(shift: ShiftView, report: ShiftReport) { self.shift = shift; self.report = report }
}

/// Adds up a shift's sales and refunds into its report; pure, so the service's X and Z reports and the
/// tests compute them the same way.
public enum ShiftTally {
    /// One order of the shift as the tally needs it.
    public struct Sale: Equatable, Sendable {
        public var orderNo: OrderNumber
        /// `cash` or the channel's name.
        public var tender: String
        public var status: OrderStatus
        public var amount: Int64
        public init(orderNo: OrderNumber, tender: String, status: OrderStatus, amount: Int64) {
            self.orderNo = orderNo; self.tender = tender; self.status = status; self.amount = amount
        }
    }

    /// One refund made during the shift, with the tender of the sale it returns money of.
    public struct Refund: Equatable, Sendable {
        public var tender: String
        public var amount: Int64
        public init(tender: String, amount: Int64) { self.tender = tender; self.amount = amount }
    }

    /// The report of `shift` (`Z` when it is closed, with the counted cash; else `X`).
    public static func report(_ shift: ShiftView, sales: [Sale], refunds: [Refund], now: Int64) -> ShiftReport {
        func totals(_ entries: [(String, Int64)]) -> [TenderTotal] {
            var byTender: [String: TenderTotal] = [:]
            for (tender, amount) in entries {
                byTender[tender, default: TenderTotal(tender: tender, count: 0, amount: 0)].count += 1
                byTender[tender]!.amount += amount
            }
            // Cash first, then the channels by name: the order a till's report is read in.
            func rank(_ t: TenderTotal) -> (Int, String) { (t.tender == Tender.cash.rawValue ? 0 : 1, t.tender) }
            return byTender.values.sorted { rank($0) < rank($1) }
        }
        let paid = sales.filter { $0.status == .paid }
        let saleTotals = totals(paid.map { ($0.tender, $0.amount) })
        let refundTotals = totals(refunds.map { ($0.tender, $0.amount) })
        let cash = Tender.cash.rawValue
        let expected = shift.openingFloat + (saleTotals.first { $0.tender == cash }?.amount ?? 0)
            - (refundTotals.first { $0.tender == cash }?.amount ?? 0)
        let closed = shift.status == .closed
        return ShiftReport(
            kind: closed ? "Z" : "X", shift: shift, generatedAt: now, sales: saleTotals, refunds: refundTotals,
            voids: sales.filter { $0.status == .closed }.count, reversals: sales.filter { $0.status == .reversed }.count,
            declined: sales.filter { $0.status == .declined }.count,
            unsettled: sales.filter { $0.status == .paying }.map(\.orderNo).sorted { $0.digits < $1.digits },
            cashExpected: expected, cashCounted: closed ? shift.countedCash : nil,
            cashDifference: closed ? shift.countedCash.map { $0 - expected } : nil)
    }
}
