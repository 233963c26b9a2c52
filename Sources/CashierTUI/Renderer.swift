import Terminal

/// One cell the terminal must redraw.
public struct CellChange: Equatable, Sendable {
    public var row: Int
    public var column: Int
    public var cell: Cell
}

/// Draws buffers to the terminal, writing only cells that differ from what is already on screen.
public struct Renderer {
    private var onScreen: ScreenBuffer?

    public init() {}

    /// The cells of `new` that differ from `old`; all cells when there is no old buffer or its size differs.
    public static func changes(from old: ScreenBuffer?, to new: ScreenBuffer) -> [CellChange] {
        let sameSize = old.map { $0.rows == new.rows && $0.columns == new.columns } ?? false
        var out: [CellChange] = []
        for row in 0..<new.rows {
            for col in 0..<new.columns {
                let cell = new[row, col]
                // The right half of a wide character is drawn together with its left half.
                if cell.isContinuation { continue }
                if sameSize, let old, old[row, col] == cell { continue }
                out.append(CellChange(row: row, column: col, cell: cell))
            }
        }
        return out
    }

    /// Forgets what is on screen, so the next draw repaints everything (after a resize).
    public mutating func invalidate() { onScreen = nil }

    /// Draws a buffer; returns how many cells were written.
    @discardableResult
    public mutating func draw(_ buffer: ScreenBuffer, on terminal: Terminal) -> Int {
        if onScreen.map({ $0.rows != buffer.rows || $0.columns != buffer.columns }) ?? true { terminal.clear() }
        let changes = Renderer.changes(from: onScreen, to: buffer)
        for change in changes {
            terminal.put(row: change.row, column: change.column, change.cell.character,
                         attributes: change.cell.style.attributes, color: change.cell.style.color)
        }
        if !changes.isEmpty { terminal.refresh() }
        onScreen = buffer
        return changes.count
    }
}
