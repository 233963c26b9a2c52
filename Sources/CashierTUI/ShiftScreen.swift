import CashierCore
import Terminal

/// The shift: sign in with a staff PIN, open with the float, read the running X report, close with the
/// counted cash (a supervisor's PIN when the difference is over the limit) and read the numbered Z report.
struct ShiftScreen: Screen {
    enum Phase: Equatable {
        case loading
        /// Nobody is signed in: the staff PIN is typed (shown as dots).
        case signIn
        /// No shift is open: the opening float is typed.
        case noShift
        /// A shift is open with its X report: counted cash may be typed and closed with F6.
        case open(ShiftResponse)
        /// The counted cash is too far off: a supervisor's PIN is typed to close with it.
        case supervisor(ShiftResponse, counted: Int64)
        /// Closed: its Z report.
        case closed(ShiftResponse)
    }

    var phase: Phase = .loading
    var input = ""
    var message: Message?
    var waiting = false
    let keymap = KeyMap.shift
    let titleKey = "title.shift"

    static func open() -> [Effect] { [.push(ShiftScreen()), .send(.shiftReport(print: false))] }

    private var typingPIN: Bool {
        switch phase {
        case .signIn, .supervisor: return true
        default: return false
        }
    }

    func accepts(_ c: Character) -> Bool {
        guard !waiting, c.isASCII else { return false }
        switch phase {
        case .loading, .closed: return false
        case .signIn, .supervisor: return c.isNumber
        case .noShift, .open: return c.isNumber || c == "."
        }
    }

    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] {
        if input.count < (typingPIN ? 12 : 14) { input.append(c) }
        message = nil
        return []
    }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        if waiting, request != .help { message = .info(s["shift.wait"]); return [] }
        switch request {
        case .confirm: return confirm(context)
        case .closeShift:
            guard case .open(let r) = phase else { message = .error(s["shift.noneOpen"]); return [] }
            guard let counted = amount(s) else { return [] }
            return send(.closeShift(counted: counted, supervisorPIN: nil), then: .open(r))
        case .printReport:
            guard case .open = phase else { message = .error(s["shift.noneOpen"]); return [] }
            return send(.shiftReport(print: true), then: phase)
        case .deleteBackward:
            if !input.isEmpty { input.removeLast() }
            return []
        case .clearInput:
            input = ""
            return []
        case .back:
            if case .supervisor(let r, _) = phase { phase = .open(r); input = ""; message = nil; return [] }
            return nil
        default:
            return nil
        }
    }

    private mutating func confirm(_ context: ScreenContext) -> [Effect] {
        let s = context.strings
        switch phase {
        case .loading: return []
        case .signIn:
            guard PINHash.isValidPIN(input) else { message = .error(s["shift.pinForm"]); return [] }
            let pin = input
            return send(.signIn(pin: pin), then: .signIn)
        case .noShift:
            guard let float = amount(s) else { return [] }
            return send(.openShift(float: float), then: .noShift)
        case .open:
            // Enter alone brings the X report up to date.
            return send(.shiftReport(print: false), then: phase)
        case .supervisor(let r, let counted):
            guard PINHash.isValidPIN(input) else { message = .error(s["shift.pinForm"]); return [] }
            let pin = input
            return send(.closeShift(counted: counted, supervisorPIN: pin), then: .supervisor(r, counted: counted))
        case .closed:
            return [.pop]
        }
    }

    /// The amount typed (0 allowed), or nil with a message.
    private mutating func amount(_ s: Strings) -> Int64? {
        guard !input.isEmpty, let money = try? Money.parse(input), money.minorUnits >= 0 else {
            message = .error(s["shift.amountForm"])
            return nil
        }
        return money.minorUnits
    }

    private mutating func send(_ command: BackendCommand, then next: Phase) -> [Effect] {
        if case .closeShift(let counted, _) = command, case .open(let r) = next { pendingClose = (r, counted) }
        phase = next
        input = ""
        waiting = true
        message = .info("…")
        return [.send(command)]
    }

    /// The close under way, so a SUPERVISOR_REQUIRED answer knows what to ask the PIN for.
    private var pendingClose: (ShiftResponse, Int64)?

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        let s = context.strings
        switch event {
        case .signedIn(let result):
            waiting = false
            switch result {
            case .success(let staff):
                message = .success(s["shift.signedIn", staff.name])
                phase = .loading
                waiting = true
                return [.send(.shiftReport(print: false))]
            case .failure(let e):
                message = .error(Format.error(e, s))
            }
        case .shift(let result):
            waiting = false
            message = nil
            switch result {
            case .success(let r):
                pendingClose = nil
                phase = r.shift.status == .open ? .open(r) : .closed(r)
                if r.shift.status == .closed { message = .success(s["shift.closed", r.shift.zNumber ?? 0]) }
            case .failure(let e) where e.code == .shiftNotFound:
                phase = context.status.staff == nil ? .signIn : .noShift
            case .failure(let e) where e.code == .badInput && context.status.staff == nil:
                phase = .signIn
            case .failure(let e) where e.code == .supervisorRequired:
                if let (r, counted) = pendingClose { phase = .supervisor(r, counted: counted) }
                message = .error(s["shift.supervisor", e.detail ?? ""])
            case .failure(let e):
                if phase == .loading { phase = context.status.staff == nil ? .signIn : .noShift }
                message = .error(Format.error(e, s) + (e.detail.map { " (\($0))" } ?? ""))
            }
        case .receipt(let result, _):
            waiting = false
            message = Receipt.message(result, copy: true, s) ?? .info(s["receipt.reprinted"])
        default:
            break
        }
        return []
    }

    // MARK: Drawing

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        var row = area.top
        if let staff = context.status.staff {
            b.write(s["shift.staff", staff.name, s["role.\(staff.role)"]], row: row, column: x, style: .dim)
        }
        row += 2
        switch phase {
        case .loading:
            b.write(s["shift.loading"], row: row, column: x)
        case .signIn:
            b.write(s["shift.signInIntro"], row: row, column: x)
            prompt(s["shift.pinPrompt"], masked: true, row: row + 2, into: &b, x: x)
        case .noShift:
            b.write(s["shift.noShiftIntro"], row: row, column: x)
            prompt(s["shift.floatPrompt"], masked: false, row: row + 2, into: &b, x: x)
        case .open(let r):
            row = report(r.report, into: &b, row: row, x: x, area: area, context)
            prompt(s["shift.countedPrompt"], masked: false, row: area.top + area.rows - 2, into: &b, x: x)
        case .supervisor(let r, let counted):
            row = report(r.report, into: &b, row: row, x: x, area: area, context)
            b.write(s["shift.countedWas", Format.money(counted, r.shift.currency)], row: area.top + area.rows - 3, column: x, style: .bold)
            prompt(s["shift.supervisorPrompt"], masked: true, row: area.top + area.rows - 2, into: &b, x: x)
        case .closed(let r):
            row = report(r.report, into: &b, row: row, x: x, area: area, context)
            b.write(s["checkout.next"], row: area.top + area.rows - 2, column: x, style: .dim)
        }
    }

    private func prompt(_ text: String, masked: Bool, row: Int, into b: inout ScreenBuffer, x: Int) {
        let used = b.write(text + " ", row: row, column: x, style: .bold)
        b.write(Format.field(masked ? String(repeating: "•", count: input.count) : input), row: row, column: x + used)
    }

    /// The report's lines; returns the row after them.
    private func report(_ r: ShiftReport, into b: inout ScreenBuffer, row start: Int, x: Int, area: Area, _ context: ScreenContext) -> Int {
        let s = context.strings
        let money = { (v: Int64) in Format.money(v, r.shift.currency) }
        var row = start
        let title = r.kind == "Z" ? s["shift.zTitle", r.shift.zNumber ?? 0] : s["shift.xTitle"]
        b.write(title, row: row, column: x, style: CellStyle([.reverse, .bold], color: r.kind == "Z" ? .green : .cyan))
        row += 1
        b.write(s["shift.opened", r.shift.shiftId, Format.time(r.shift.openedAt, context.status.store), r.shift.openedBy.name], row: row, column: x)
        row += 1
        func line(_ left: String, _ right: String, bold: Bool = false) {
            guard row < area.top + area.rows - 3 else { return }
            b.write(DisplayWidth.fit(left, to: 40) + DisplayWidth.fit(right, to: 16, alignRight: true), row: row, column: x,
                    style: bold ? .bold : .plain)
            row += 1
        }
        line(s["shift.float"], money(r.shift.openingFloat))
        for t in r.sales { line(s["shift.sales", t.displayName, t.count], money(t.amount)) }
        for t in r.refunds { line(s["shift.refunds", t.displayName, t.count], "-" + money(t.amount)) }
        line(s["shift.counts", r.voids, r.reversals, r.declined], "")
        if !r.unsettled.isEmpty { line(s["shift.unsettled", r.unsettled.count], "") }
        line(s["shift.expected"], money(r.cashExpected), bold: true)
        if let counted = r.cashCounted { line(s["shift.counted"], money(counted), bold: true) }
        if let diff = r.cashDifference { line(s["shift.difference"], (diff > 0 ? "+" : "") + money(diff), bold: true) }
        return row
    }
}
