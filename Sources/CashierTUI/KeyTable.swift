import Terminal

/// Every user action, by name. Screens act on requests, never on raw keys.
public enum Request: String, CaseIterable, Sendable {
    case help, back, quit, confirm, deleteBackward, clearInput
    case moveUp, moveDown, pageUp, pageDown
    case openRefund, openOrders, voidSale, refundOrder, reprintReceipt
    case payCash, payPart, openShift, closeShift, printReport, signOut

    /// The Strings key of the one-line description shown on the help screen.
    public var descriptionKey: String { "request.\(rawValue)" }
}

/// The keymaps: one per view, falling back to the generic one.
public enum KeyMap: String, CaseIterable, Sendable {
    case generic, activation, checkout, refund, orders, orderDetail, shift
}

/// One key bound to one request in one keymap.
public struct KeyBinding: Equatable, Sendable {
    public var keymap: KeyMap
    public var key: Key
    public var request: Request
    public init(_ keymap: KeyMap, _ key: Key, _ request: Request) {
        self.keymap = keymap; self.key = key; self.request = request
    }
}

/// The one table of key bindings; routing and the help screen are both generated from it.
public struct KeyTable: Sendable {
    public private(set) var bindings: [KeyBinding]

    public init(_ bindings: [KeyBinding]) { self.bindings = bindings }

    /// The request a key makes in a view's keymap, else in the generic keymap.
    public func request(for key: Key, in keymap: KeyMap) -> Request? {
        if let b = bindings.first(where: { $0.keymap == keymap && $0.key == key }) { return b.request }
        return bindings.first(where: { $0.keymap == .generic && $0.key == key })?.request
    }

    /// Whether a view's own keymap binds the key (such keys are never typed as text).
    public func bindsInView(_ key: Key, _ keymap: KeyMap) -> Bool {
        keymap != .generic && bindings.contains { $0.keymap == keymap && $0.key == key }
    }

    /// Requests of a keymap, in table order, each with its keys.
    public func requests(in keymap: KeyMap) -> [(request: Request, keys: [Key])] {
        var out: [(request: Request, keys: [Key])] = []
        for b in bindings where b.keymap == keymap {
            if let i = out.firstIndex(where: { $0.request == b.request }) { out[i].keys.append(b.key) }
            else { out.append((b.request, [b.key])) }
        }
        return out
    }

    /// The bindings shipped with the program.
    public static let standard = KeyTable([
        KeyBinding(.generic, .char("?"), .help), KeyBinding(.generic, .function(1), .help),
        KeyBinding(.generic, .escape, .back), KeyBinding(.generic, .char("q"), .back),
        KeyBinding(.generic, .function(10), .quit),
        KeyBinding(.generic, .enter, .confirm),
        KeyBinding(.generic, .backspace, .deleteBackward),
        KeyBinding(.generic, .ctrl("u"), .clearInput), KeyBinding(.generic, .delete, .clearInput),

        KeyBinding(.checkout, .function(2), .openRefund), KeyBinding(.checkout, .char("r"), .openRefund),
        KeyBinding(.checkout, .function(3), .openOrders), KeyBinding(.checkout, .char("o"), .openOrders),
        KeyBinding(.checkout, .function(8), .voidSale),
        KeyBinding(.checkout, .function(7), .reprintReceipt),
        KeyBinding(.checkout, .function(4), .payCash),
        KeyBinding(.checkout, .function(6), .payPart),
        KeyBinding(.checkout, .function(5), .openShift),
        KeyBinding(.checkout, .function(9), .signOut),

        KeyBinding(.shift, .function(6), .closeShift),
        KeyBinding(.shift, .function(7), .printReport),

        KeyBinding(.orders, .up, .moveUp), KeyBinding(.orders, .char("k"), .moveUp),
        KeyBinding(.orders, .down, .moveDown), KeyBinding(.orders, .char("j"), .moveDown),
        KeyBinding(.orders, .pageDown, .pageDown), KeyBinding(.orders, .char("n"), .pageDown),
        KeyBinding(.orders, .pageUp, .pageUp), KeyBinding(.orders, .char("p"), .pageUp),

        KeyBinding(.orderDetail, .char("r"), .refundOrder), KeyBinding(.orderDetail, .function(2), .refundOrder),
        KeyBinding(.orderDetail, .function(7), .reprintReceipt),
    ])
}
