import CashierCore
import Terminal

/// What handling input did, for the main loop to act on (as htop's actions return flags).
public struct AppFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let redraw = AppFlags(rawValue: 1)
    public static let quit = AppFlags(rawValue: 2)
}

/// Owns the screens, routes keys through the key table, applies backend events and renders frames.
///
/// Runs the same on a real terminal (`runOnTerminal`) and headless (`runKeyScript`).
public struct App {
    public static let minimumRows = 24
    public static let minimumColumns = 80

    public private(set) var strings: Strings
    public let keyTable: KeyTable
    private var backend: any CashierBackend
    private var stack: [any Screen]
    private var showingHelp = false
    private var notice: Message?
    public private(set) var hasQuit = false
    /// When the last key came, and after how long without one the screen locks (a setting: read once).
    private var lastKeyAt = 0.0
    private let idleLockSeconds: Int

    /// Starts on activation when the backend has no store yet, else on checkout.
    public init(backend: any CashierBackend, language: Language, keyTable: KeyTable = .standard) {
        self.backend = backend
        self.strings = Strings(language: language)
        self.keyTable = keyTable
        let status = backend.status()
        stack = status.store == nil ? [ActivationScreen()] : [CheckoutScreen()]
        idleLockSeconds = status.idleLockSeconds
    }

    /// Whether the backend has a command in flight.
    public var backendBusy: Bool { backend.status().busy }

    private func context(now: Double, keyTime: Double? = nil) -> ScreenContext {
        let b = backend
        return ScreenContext(strings: strings, now: now, keyTime: keyTime ?? now, status: b.status(), catalog: { b.catalogItem(code: $0) })
    }

    /// Handles one key; `keyTime` is when it was typed (default `now`), which tells a scanner's burst
    /// from typing.
    public mutating func handle(_ key: Key, now: Double, keyTime: Double? = nil) -> AppFlags {
        if key == .resize { return .redraw }
        lastKeyAt = now
        let ctx = context(now: now, keyTime: keyTime)
        notice = nil
        let keymap = stack[stack.count - 1].keymap
        if showingHelp {
            let r = keyTable.request(for: key, in: keymap)
            if r == .help || r == .back || r == .confirm { showingHelp = false }
            return .redraw
        }
        var screen = stack.removeLast()
        var effects: [Effect]? = nil
        if !keyTable.bindsInView(key, keymap), case .char(let c) = key, screen.accepts(c) {
            effects = screen.type(c, ctx)
        } else if let request = keyTable.request(for: key, in: keymap) {
            effects = screen.perform(request, ctx)
            if effects == nil { effects = defaultAction(request, screen) }
        }
        stack.append(screen)
        apply(effects ?? [])
        return hasQuit ? [.quit, .redraw] : .redraw
    }

    /// What a request does when the screen leaves it to the app.
    private mutating func defaultAction(_ request: Request, _ screen: any Screen) -> [Effect] {
        switch request {
        case .help:
            showingHelp = true
            return []
        case .back:
            guard screen.canLeave else { notice = .error(strings["app.cannotLeave"]); return [] }
            return stack.isEmpty ? [] : [.pop]
        case .quit:
            guard screen.canLeave, stack.allSatisfy({ $0.canLeave }) else {
                notice = .error(strings["app.cannotLeave"]); return []
            }
            return [.quit]
        default:
            return []
        }
    }

    private mutating func apply(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case .send(let command): backend.send(command)
            case .push(let screen): stack.append(screen)
            case .pop: if stack.count > 1 { stack.removeLast() }
            case .replaceAll(let screen): stack = [screen]
            case .quit: hasQuit = true
            }
        }
    }

    /// Collects backend events and hands them to the screen on top; returns .redraw if any arrived.
    public mutating func pollBackend(now: Double) -> AppFlags {
        let locked = lockIfIdle(now: now)
        let events = backend.pollEvents()
        guard !events.isEmpty else { return locked ? .redraw : [] }
        for event in events {
            let ctx = context(now: now)
            var screen = stack.removeLast()
            let effects = screen.receive(event, ctx)
            stack.append(screen)
            apply(effects)
        }
        return .redraw
    }

    /// Puts the lock screen over whatever is on screen (the sale stays as it is beneath) once nobody has
    /// typed for `idleLockSeconds` while someone is signed in and no command is out.
    private mutating func lockIfIdle(now: Double) -> Bool {
        // The clock first: the backend's status is only asked for once the idle time has passed.
        guard idleLockSeconds > 0, now - lastKeyAt >= Double(idleLockSeconds), !(stack.last is LockScreen) else { return false }
        let status = backend.status()
        guard let staff = status.staff, !status.busy else { return false }
        showingHelp = false
        stack.append(LockScreen(lockedBy: staff))
        return true
    }

    /// Switches the language of every text.
    public mutating func setLanguage(_ language: Language) { strings = Strings(language: language) }

    /// Draws the current frame.
    public func render(rows: Int, columns: Int, now: Double) -> ScreenBuffer {
        var b = ScreenBuffer(rows: rows, columns: columns)
        guard rows >= App.minimumRows, columns >= App.minimumColumns else {
            renderTooSmall(into: &b)
            return b
        }
        let ctx = context(now: now)
        let screen = stack[stack.count - 1]
        // Title bar.
        b.fill(row: 0, style: .bar)
        b.write(" " + strings["app.name"] + " — " + strings[screen.titleKey], row: 0, column: 0, style: CellStyle([.reverse, .bold]))
        if let store = ctx.status.store {
            let name = DisplayWidth.truncate(store.storeName, to: 30)
            b.write(name + " ", row: 0, column: columns - DisplayWidth.of(name) - 1, style: .bar)
        }
        let area = Area(top: 2, left: 0, rows: rows - 5, columns: columns)
        screen.render(into: &b, area: area, ctx)
        if let message = notice ?? screen.message {
            let color: TextColor = message.kind == .error ? .red : message.kind == .success ? .green : .normal
            b.write(" " + message.text, row: rows - 3, column: 0, style: CellStyle(message.kind == .info ? [] : .bold, color: color))
        }
        // While money is in flight only help is offered: nothing else would be allowed.
        let hint = screen.canLeave ? hints(for: screen.keymap) : HelpOverlay.keyName(.char("?")) + " " + strings["hint.help"]
        b.write(hint, row: rows - 2, column: 0, style: .dim)
        StatusBar.render(ctx.status, strings: strings, into: &b, row: rows - 1)
        if showingHelp {
            // Keys the screen is taking as text right now (e.g. `q` in an activation code) do not act.
            let acting: (Key) -> Bool = { key in if case .char(let c) = key { return !screen.accepts(c) } else { return true } }
            HelpOverlay.render(keyTable, keymap: screen.keymap, strings: strings, into: &b, area: area, showing: acting)
        }
        return b
    }

    private func renderTooSmall(into b: inout ScreenBuffer) {
        let lines = [strings["app.tooSmall"], strings["app.tooSmallSize", b.columns, b.rows, App.minimumColumns, App.minimumRows]]
        for (i, line) in lines.enumerated() where i < b.rows {
            let w = DisplayWidth.of(line)
            b.write(line, row: max(0, b.rows / 2 - 1 + i), column: max(0, (b.columns - w) / 2), style: .bold)
        }
    }

    /// The hint line: the view's own requests first, then help and back, from the key table.
    private func hints(for keymap: KeyMap) -> String {
        let own = keyTable.requests(in: keymap).prefix(4)
        let generic = keyTable.requests(in: .generic).filter { [.help, .back, .quit].contains($0.request) }
        return (Array(own) + generic).map { entry in
            "\(entry.keys.first.map(HelpOverlay.keyName) ?? "") \(strings["hint.\(entry.request.rawValue)"])"
        }.joined(separator: "  ")
    }
}

/// The bottom line of every screen: domains, device, store, and a warning while unreachable.
enum StatusBar {
    static func render(_ status: BackendStatus, strings s: Strings, into b: inout ScreenBuffer, row: Int) {
        var style = CellStyle.bar
        var warning = ""
        if status.isBusy {
            warning = "⚠ " + s["status.busy"] + " │ "
            style = CellStyle([.reverse, .bold], color: .yellow)
        } else if !status.isReachable {
            let probing = status.domains.contains { $0.state == .probing }
            warning = "⚠ " + s[probing ? "status.unreachableProbing" : "status.unreachable"] + " │ "
            style = CellStyle([.reverse, .bold], color: .red)
        }
        // Shorten domain names until everything fits; the warning always comes first.
        var text = ""
        for nameWidth in [40, 20, 14, 8] {
            text = " " + warning + line(status, strings: s, nameWidth: nameWidth)
            if DisplayWidth.of(text) <= b.columns { break }
        }
        b.fill(row: row, style: style)
        b.write(text, row: row, column: 0, style: style)
    }

    static func line(_ status: BackendStatus, strings s: Strings, nameWidth: Int) -> String {
        var parts: [String] = []
        if let active = status.domains.first(where: { $0.state == .active }) {
            parts.append("● " + DisplayWidth.truncate(active.name, to: nameWidth)
                         + (active.latencyMilliseconds.map { " \($0)ms" } ?? ""))
        }
        for d in status.domains where d.state != .active {
            parts.append(DisplayWidth.truncate(d.name, to: nameWidth) + " " + s["domain.\(d.state.rawValue)"])
        }
        if status.clockOffsetMs != 0 {
            // The terminal signs with the service's time, so it still sells; the clock still wants setting.
            let seconds = String(ClockCorrection.wholeSeconds(offsetMs: status.clockOffsetMs))
            parts.append("⏱ " + s[status.clockOffsetMs < 0 ? "status.clockAhead" : "status.clockBehind", seconds])
        }
        if status.salesToForward > 0 { parts.insert(s["status.toForward", status.salesToForward], at: 0) }
        if let staff = status.staff { parts.append(DisplayWidth.truncate(staff.name, to: 16)) }
        if let shift = status.shift { parts.append(s["status.shift", String(shift.shiftId.suffix(6))]) }
        parts.append(s["status.device", status.deviceId ?? "—"])
        if let store = status.store { parts.append(DisplayWidth.truncate(store.storeName, to: 20)) }
        return parts.joined(separator: " │ ")
    }
}

/// The key help, generated from the key table: the view's own bindings, then the generic ones.
enum HelpOverlay {
    static func keyName(_ key: Key) -> String {
        switch key {
        case .char(let c) where c != " " && c != "<": return String(c)
        case .backspace: return "Backspace"
        default:
            let d = key.description
            return String(d.dropFirst().dropLast())
        }
    }

    static func lines(_ table: KeyTable, keymap: KeyMap, strings s: Strings, showing: (Key) -> Bool = { _ in true }) -> [String] {
        var out: [String] = []
        func section(_ title: String, _ entries: [(request: Request, keys: [Key])]) {
            guard !entries.isEmpty else { return }
            out.append(title)
            for e in entries {
                out.append("  " + DisplayWidth.fit(e.keys.map(keyName).joined(separator: ", "), to: 16) + s[e.request.descriptionKey])
            }
        }
        let own = table.requests(in: keymap)
        let overridden = Set(table.bindings.filter { $0.keymap == keymap }.map(\.key))
        let generic = table.requests(in: .generic).map { ($0.request, $0.keys.filter { !overridden.contains($0) && showing($0) }) }
            .filter { !$0.1.isEmpty }.map { (request: $0.0, keys: $0.1) }
        if keymap != .generic { section(s["help.view", s["title.\(keymap.rawValue)"]], own) }
        section(s["help.generic"], generic)
        return out
    }

    static func render(_ table: KeyTable, keymap: KeyMap, strings s: Strings, into b: inout ScreenBuffer, area: Area,
                       showing: (Key) -> Bool = { _ in true }) {
        let body = lines(table, keymap: keymap, strings: s, showing: showing)
        let width = min(area.columns - 8, max(40, body.map(DisplayWidth.of).max() ?? 0) + 4)
        let height = min(area.rows, body.count + 4)
        let left = area.left + (area.columns - width) / 2
        let top = area.top
        for r in 0..<height { b.fill(row: top + r, column: left, width: width, style: .plain) }
        let edge = String(repeating: "─", count: width - 2)
        b.write("┌" + edge + "┐", row: top, column: left)
        b.write("└" + edge + "┘", row: top + height - 1, column: left)
        for r in 1..<(height - 1) {
            b.write("│", row: top + r, column: left)
            b.write("│", row: top + r, column: left + width - 1)
        }
        b.write(" " + s["help.title"] + " ", row: top, column: left + 2, style: .bold)
        for (i, line) in body.prefix(height - 4).enumerated() {
            b.write(line, row: top + 1 + i, column: left + 2, width: width - 4)
        }
        b.write(s["help.close"], row: top + height - 2, column: left + 2, style: .dim, width: width - 4)
    }
}
