import CashierCore
import Foundation

/// Something that happened in the engine, for subscribers (headless output, the TUI adapter, logs).
public enum EngineEvent: Equatable, Sendable {
    case probe(ProbeNews)
    /// A sale moved to `phase`; `secondsLeft` until its payment deadline while one runs.
    case sale(id: String, phase: SalePhase, secondsLeft: Int?)
    case refund(ref: String, phase: RefundPhase)
    /// An unfinished sale from the journal is being driven to a final state.
    case resuming(id: String)
    /// A cash sale moved to `phase` (placed, kept offline, forwarded).
    case cashSale(id: String, phase: CashSalePhase)
}

/// How one sale ended, with its journal id and order number (when an order was made).
public struct SaleResult: Equatable, Sendable {
    public var id: String
    public var orderNo: OrderNumber?
    public var outcome: SaleOutcome
    /// For a paid sale: whether its receipt was printed. A failed print leaves the sale paid.
    public var receipt: ReceiptPrinting?
    public init(id: String, orderNo: OrderNumber?, outcome: SaleOutcome, receipt: ReceiptPrinting? = nil) {
        self.id = id; self.orderNo = orderNo; self.outcome = outcome; self.receipt = receipt
    }
}

/// What became of a receipt sent to the printer.
public enum ReceiptPrinting: Equatable, Sendable {
    case printed
    /// No `receipt_sink` is configured.
    case noPrinter
    /// The printer (or file) could not be opened or written: missing, out of paper, a device error.
    case failed(String)
}

/// One domain as the status display shows it.
public struct DomainView: Codable, Equatable, Sendable {
    public var url: String
    /// `active`, `standby` (answered, not in use), `down` (latest probe failed) or `unknown` (not probed yet).
    public var state: String
    public var latencyMs: Int64?
    public var error: String?
    public var checkedAtMs: Int64?
}

/// A snapshot of connection, device and journal state.
public struct EngineStatus: Codable, Equatable, Sendable {
    public var domains: [DomainView]
    public var activeDomain: Int?
    /// True when every domain failed the latest round.
    public var unreachable: Bool
    public var probeRounds: Int
    public var deviceId: String?
    public var store: StoreInfo?
    public var unfinishedSales: Int
    /// Milliseconds added to this terminal's clock to sign with the service's time (0: the clocks agree,
    /// or the service has not said otherwise).
    public var clockOffsetMs: Int64
    /// Who is signed in at this terminal (`cashier sign-in`), if anyone.
    public var staff: StaffView?
    /// The shift open at this terminal, as last seen.
    public var shift: ShiftView?
    /// Cash sales the service does not have yet (taken offline, or still being sent).
    public var cashSalesToForward: Int = 0
}

extension CallFailure {
    /// The failure as the error people and scripts see.
    public var apiError: APIError {
        if case .service(let e) = self { return e }
        return APIError(code, detail: description)
    }

    /// The failure as the sale state machine takes it.
    var saleFailure: SaleFailure {
        if case .service(let e) = self { return .service(e) }
        return .transport(mayHaveArrived ? .uncertain(description) : .notSent(description))
    }
}
