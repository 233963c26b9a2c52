import CashierCore
import Terminal

/// Over the screens after an idle time: nothing can be done until a member of staff types their PIN
/// (checked by the service). Whoever unlocks is signed in from then on; what was on screen is kept.
struct LockScreen: Screen {
    let lockedBy: StaffView
    var input = ""
    var message: Message?
    var waiting = false
    let keymap = KeyMap.generic
    let titleKey = "title.locked"
    var canLeave: Bool { false }

    func accepts(_ c: Character) -> Bool { !waiting && c.isASCII && c.isNumber }

    mutating func type(_ c: Character, _ context: ScreenContext) -> [Effect] {
        if input.count < 12 { input.append(c) }
        message = nil
        return []
    }

    mutating func perform(_ request: Request, _ context: ScreenContext) -> [Effect]? {
        let s = context.strings
        switch request {
        case .confirm:
            guard !waiting else { return [] }
            guard PINHash.isValidPIN(input) else { message = .error(s["shift.pinForm"]); return [] }
            let pin = input
            input = ""
            waiting = true
            message = nil
            return [.send(.signIn(pin: pin))]
        case .deleteBackward:
            if !input.isEmpty { input.removeLast() }
            return []
        case .clearInput:
            input = ""
            return []
        case .help:
            return nil
        default:
            message = .error(s["lock.locked"])
            return []
        }
    }

    mutating func receive(_ event: BackendEvent, _ context: ScreenContext) -> [Effect] {
        guard case .signedIn(let result) = event else { return [] }
        waiting = false
        switch result {
        case .success: return [.pop]
        case .failure(let e): message = .error(Format.error(e, context.strings))
        }
        return []
    }

    func render(into b: inout ScreenBuffer, area: Area, _ context: ScreenContext) {
        let s = context.strings
        let x = area.left + 2
        b.write(s["lock.banner"], row: area.top + 2, column: x, style: CellStyle([.reverse, .bold], color: .yellow))
        b.write(s["lock.intro", lockedBy.name], row: area.top + 4, column: x)
        b.write(s["lock.keep"], row: area.top + 5, column: x)
        let used = b.write(s["shift.pinPrompt"] + " ", row: area.top + 7, column: x, style: .bold)
        b.write(Format.field(String(repeating: "•", count: input.count)), row: area.top + 7, column: x + used)
    }
}
