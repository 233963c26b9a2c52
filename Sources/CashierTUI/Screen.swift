import CashierCore
import Terminal

/// A rectangle of the screen buffer given to a screen to draw in.
struct Area: Equatable {
    var top: Int, left: Int, rows: Int, columns: Int
}

/// A line of feedback under a screen.
struct Message: Equatable {
    enum Kind { case info, success, error }
    var text: String
    var kind: Kind
    static func info(_ t: String) -> Message { Message(text: t, kind: .info) }
    static func error(_ t: String) -> Message { Message(text: t, kind: .error) }
    static func success(_ t: String) -> Message { Message(text: t, kind: .success) }
}

/// What a screen asks the app to do after a key or an event (the app performs it).
enum Effect {
    case send(BackendCommand)
    case push(any Screen)
    case pop
    /// Replace the whole stack, e.g. activation done → checkout.
    case replaceAll(any Screen)
    case quit
}

/// What screens may read while handling input and drawing.
struct ScreenContext {
    var strings: Strings
    /// Seconds on the app's clock (monotonic; virtual in key scripts).
    var now: Double
    /// When the key being handled was typed, on the same clock: in key scripts a person's pace (a key every
    /// quarter second) unless the script says `<Scan:…>`, so a scanner's burst can be told from typing.
    var keyTime: Double
    var status: BackendStatus
    var catalog: (String) -> OrderItem?
    var currency: String { status.store?.currency ?? Money.defaultCurrency }
}

/// One screen: a value-type state machine that turns requests, typed characters and backend events
/// into new state and effects, and draws itself into a buffer.
protocol Screen {
    var keymap: KeyMap { get }
    /// The Strings key of the screen's title.
    var titleKey: String { get }
    var message: Message? { get }
    /// False while leaving would abandon money in flight (a payment or refund being made).
    var canLeave: Bool { get }
    /// Whether a character is text for the screen's current input field.
    func accepts(_ character: Character) -> Bool
    mutating func type(_ character: Character, _ context: ScreenContext) -> [Effect]
    /// Acts on a request; nil leaves it to the app's default (help, back = pop, quit).
    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]?
    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect]
    func render(into buffer: inout ScreenBuffer, area: Area, _ context: ScreenContext)
}

extension Screen {
    var canLeave: Bool { true }
}

/// Formatting shared by the screens.
enum Format {
    static func money(_ minor: Int64, _ currency: String) -> String {
        Money(minorUnits: minor, currency: currency).description
    }

    static func amount(_ minor: Int64) -> String { Money(minorUnits: minor).decimalString }

    /// `YYYY-MM-DD hh:mm:ss` of a Unix-milliseconds time in the store's time zone (UTC when the terminal
    /// does not know the store's).
    static func time(_ milliseconds: Int64, _ store: StoreInfo?) -> String {
        StoreTime(store: store).display(ms: milliseconds)
    }

    static func status(_ status: OrderStatus, _ s: Strings) -> String { s["status.\(status.rawValue)"] }

    /// The text people see for an error: our translation of the code if there is one, else the service's.
    static func error(_ error: APIError, _ s: Strings) -> String {
        let key = "error.\(error.code.rawValue)"
        return s.has(key) ? s[key] : error.message
    }

    /// A decline or failure reason: our text for a known error code or channel reason, else the reason itself.
    static func reason(_ reason: String, _ s: Strings) -> String {
        if let code = ErrorCode(rawValue: reason) { return error(APIError(code), s) }
        let key = "reason.\(reason)"
        return s.has(key) ? s[key] + " (\(reason))" : reason
    }

    /// Input field with a cursor mark.
    static func field(_ text: String) -> String { text + "_" }
}
