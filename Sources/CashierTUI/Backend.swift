import CashierCore

// The contract between the screens and the client engine.
//
// The screens never block and never see threads. They hand the engine `BackendCommand`s through
// `send`, and the app loop calls `pollEvents()` on the main thread several times a second (and after
// every key) to collect what has happened since. The engine does its network work on threads of its
// own and queues events (under a lock) for `pollEvents` to hand over. At most one command of each kind
// is in flight at a time: the screens do not send another until its answer has arrived.

/// What the screens ask the engine to do.
public enum BackendCommand: Equatable, Sendable {
    /// Activate this terminal with a code typed by the cashier (dashes, spaces and case are the engine's
    /// to normalise). Answered by `.activation`.
    case activate(code: String)
    /// Create an order and take payment with a scanned payment code. The engine runs the whole flow
    /// (CashierCore's sale state machine: create, pay, wait for the customer, query, reverse at the
    /// deadline), reporting `.sale` at every phase change and ending with `.sale(.finished(outcome), …)`.
    case startSale(SaleRequest)
    /// Fetch one order. Answered by `.order`.
    case lookupOrder(OrderNumber)
    /// Refund part or all of a paid order. `refundRef` is chosen by the screen and reused when the cashier
    /// retries after a failure, so a retry never refunds twice. Answered by `.refund`.
    case refund(order: OrderNumber, amount: Int64, pin: String, refundRef: String)
    /// Fetch one page of the store's orders, newest first; `cursor` is a `nextCursor` from an earlier page.
    /// Answered by `.orderList`.
    case listOrders(cursor: String?, limit: Int)
    /// Print a paid order's receipt again, marked COPY: this order's, or the last receipt printed when nil.
    /// Answered by `.receipt(…, copy: true)`.
    case reprintReceipt(OrderNumber?)
    /// A cash sale (recorded at once, or kept offline to forward). Answered by `.sale(.finished(outcome), …)`
    /// and the receipt's `.receipt`.
    case startCashSale(CashSaleRequest)
    /// Sign a member of staff in with their PIN. Answered by `.signedIn`.
    case signIn(pin: String)
    /// Sign out whoever is signed in. Answered by `.signedOut`.
    case signOut
    /// Check a supervisor's PIN (for a discount over the limit) without signing them in. Answered by
    /// `.supervisorChecked`.
    case checkSupervisor(pin: String)
    /// The shift open here with its X report; with `print`, also printed. Answered by `.shift`.
    case shiftReport(print: Bool)
    /// Open a shift with the float counted into the drawer. Answered by `.shift`.
    case openShift(float: Int64)
    /// Close the shift with the counted cash (a supervisor's PIN when the difference needs one); the Z
    /// report is printed. Answered by `.shift`.
    case closeShift(counted: Int64, supervisorPIN: String?)
}

/// A cash sale as entered on the checkout screen.
public struct CashSaleRequest: Equatable, Sendable {
    public var amount: Int64
    public var currency: String
    public var items: [OrderItem]
    /// What the customer handed over; nil: exactly the total.
    public var cashGiven: Int64?
    /// The sale's own reference when it is paid in parts.
    public var clientRef: String?
    public init(amount: Int64, currency: String, items: [OrderItem], cashGiven: Int64?, clientRef: String? = nil) {
        self.amount = amount; self.currency = currency; self.items = items; self.cashGiven = cashGiven
        self.clientRef = clientRef
    }
}

/// What became of a receipt sent to the printer.
public enum ReceiptPrint: Equatable, Sendable {
    case printed
    /// No printer is configured.
    case noPrinter
    /// The printer is missing, out of paper or failing; the sale it was for stays paid.
    case failed(String)
}

/// A sale as entered on the checkout screen.
public struct SaleRequest: Equatable, Sendable {
    /// Total in minor units; equals the sum of `items`.
    public var amount: Int64
    public var currency: String
    /// One entry per checkout line; plain amounts are items without a SKU.
    public var items: [OrderItem]
    /// The customer's payment code as scanned or typed (digits).
    public var paymentCode: String
    /// The sale's own reference when it is paid in parts (every part's order carries it).
    public var clientRef: String?
    public init(amount: Int64, currency: String, items: [OrderItem], paymentCode: String, clientRef: String? = nil) {
        self.amount = amount; self.currency = currency; self.items = items; self.paymentCode = paymentCode
        self.clientRef = clientRef
    }
}

/// The activation result the screens show.
public struct Activation: Equatable, Sendable {
    public var deviceId: String
    public var store: StoreInfo
    public init(deviceId: String, store: StoreInfo) { self.deviceId = deviceId; self.store = store }
}

/// Something that happened in the engine, handed to the screens by `pollEvents`.
public enum BackendEvent: Equatable, Sendable {
    case activation(Result<Activation, APIError>)
    /// The sale moved to `phase`; `secondsLeft` is the time until the pay deadline when one is running
    /// (the screen counts down from it until the next event).
    case sale(SalePhase, secondsLeft: Int?)
    case order(Result<OrderView, APIError>)
    case refund(Result<RefundView, APIError>)
    case orderList(Result<OrderListResponse, APIError>)
    /// A receipt went to the printer (or did not): a sale's own (`copy` false, right after its `.finished`)
    /// or a reprint's.
    case receipt(Result<ReceiptPrint, APIError>, copy: Bool)
    case signedIn(Result<StaffView, APIError>)
    case supervisorChecked(Result<StaffView, APIError>)
    /// Who was signed out (nil: nobody was signed in).
    case signedOut(StaffView?)
    /// A shift and its report (X while open, Z once closed), or why not (`SHIFT_NOT_FOUND`: none is open).
    case shift(Result<ShiftResponse, APIError>)
}

/// The state of one of the two service domains.
public enum DomainState: String, Equatable, Sendable {
    /// In use for requests.
    case active
    /// Answered its last probe; not in use.
    case standby
    /// A probe is under way.
    case probing
    /// Did not answer its last probe.
    case down
    /// Answered its last probe only to refuse it for load: there, but shedding work.
    case busy
}

public struct DomainStatus: Equatable, Sendable {
    /// Host name as configured, e.g. `pay-a.example.com`.
    public var name: String
    public var state: DomainState
    /// Round trip of the last successful probe or request.
    public var latencyMilliseconds: Int?
    public init(name: String, state: DomainState, latencyMilliseconds: Int? = nil) {
        self.name = name; self.state = state; self.latencyMilliseconds = latencyMilliseconds
    }
}

/// What the status bar shows; read every frame, so it must be cheap (a copy of the engine's state).
public struct BackendStatus: Equatable, Sendable {
    /// The two domains, primary first.
    public var domains: [DomainStatus]
    /// Nil until the terminal is activated.
    public var deviceId: String?
    public var store: StoreInfo?
    /// True while a command has been sent and its answer not yet handed out by `pollEvents`
    /// (the headless script runner waits for this to clear before the next key).
    public var busy: Bool
    /// Milliseconds the terminal adds to its clock to sign with the service's time; not 0 only when the
    /// service has refused the clock (more than 300 s off), so the bar asks for it to be set right.
    public var clockOffsetMs: Int64
    /// Who is signed in, and the shift open here.
    public var staff: StaffView?
    public var shift: ShiftView?
    /// Cash sales taken offline that the service does not have yet.
    public var salesToForward: Int
    /// Seconds without a key after which the screen locks while someone is signed in (0: never); a setting,
    /// read when the front end starts.
    public var idleLockSeconds: Int
    /// A discount above this percent of its line needs a supervisor's PIN.
    public var discountLimitPercent: Int = 10
    public init(domains: [DomainStatus], deviceId: String? = nil, store: StoreInfo? = nil, busy: Bool = false,
                clockOffsetMs: Int64 = 0, staff: StaffView? = nil, shift: ShiftView? = nil, salesToForward: Int = 0,
                idleLockSeconds: Int = 0) {
        self.domains = domains; self.deviceId = deviceId; self.store = store; self.busy = busy
        self.clockOffsetMs = clockOffsetMs; self.staff = staff; self.shift = shift; self.salesToForward = salesToForward
        self.idleLockSeconds = idleLockSeconds
    }

    /// Whether some domain is in use.
    public var isReachable: Bool { domains.contains { $0.state == .active } }

    /// Whether no domain is in use but one refused its probe only for load (sales still go out and wait
    /// for room).
    public var isBusy: Bool { !isReachable && domains.contains { $0.state == .busy } }
}

/// The client engine as the screens see it. Implemented by CashierClient; tests use canned answers.
///
/// Every method is called on the main thread and must return at once.
public protocol CashierBackend {
    /// A snapshot of connection, device and store state.
    func status() -> BackendStatus
    /// An item of the local catalogue by its code (barcode/SKU), or nil if unknown.
    func catalogItem(code: String) -> OrderItem?
    /// Starts a command; its answer arrives later through `pollEvents`.
    mutating func send(_ command: BackendCommand)
    /// Events that arrived since the last call, oldest first; empty when there are none. Never blocks.
    mutating func pollEvents() -> [BackendEvent]
}
