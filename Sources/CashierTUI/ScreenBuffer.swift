import Terminal

/// How a cell is drawn.
public struct CellStyle: Hashable, Sendable {
    public var attributes: TextAttributes
    public var color: TextColor
    public init(_ attributes: TextAttributes = [], color: TextColor = .normal) {
        self.attributes = attributes; self.color = color
    }
    public static let plain = CellStyle()
    public static let bold = CellStyle(.bold)
    public static let bar = CellStyle(.reverse)
    public static let dim = CellStyle(.dim)
}

/// One screen cell. A wide character fills its cell and marks the next one as its continuation.
public struct Cell: Hashable, Sendable {
    public var character: Character
    public var style: CellStyle
    /// The right half of a wide character drawn in the cell to the left.
    public var isContinuation: Bool
    public init(_ character: Character = " ", style: CellStyle = .plain, isContinuation: Bool = false) {
        self.character = character; self.style = style; self.isContinuation = isContinuation
    }
    public static let blank = Cell()
}

/// Rows × columns of cells that every screen renders into; the renderer draws it, tests read `text()`.
public struct ScreenBuffer: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    private var cells: [Cell]

    public init(rows: Int, columns: Int) {
        self.rows = max(0, rows); self.columns = max(0, columns)
        cells = Array(repeating: .blank, count: self.rows * self.columns)
    }

    public subscript(row: Int, column: Int) -> Cell {
        get { cells[row * columns + column] }
        set { cells[row * columns + column] = newValue }
    }

    /// Writes text from (row, column), never past `width` columns nor the right edge; returns columns used.
    ///
    /// A wide character that would not fit whole is not drawn; combining marks join the character before.
    @discardableResult
    public mutating func write(_ text: String, row: Int, column: Int, style: CellStyle = .plain, width: Int? = nil) -> Int {
        guard row >= 0, row < rows, column >= 0, column < columns else { return 0 }
        let limit = min(columns, column + (width ?? columns))
        var col = column
        for c in text {
            let w = DisplayWidth.of(c)
            if w == 0 {
                if col > column {
                    var lead = col - 1
                    if self[row, lead].isContinuation, lead > 0 { lead -= 1 }
                    let combined = String(self[row, lead].character) + String(c)
                    if let first = combined.first, combined.count == 1 { self[row, lead].character = first }
                }
                continue
            }
            if col + w > limit { break }
            clearWide(row: row, column: col)
            if w == 2 { clearWide(row: row, column: col + 1) }
            self[row, col] = Cell(c, style: style)
            if w == 2 { self[row, col + 1] = Cell(" ", style: style, isContinuation: true) }
            col += w
        }
        return col - column
    }

    /// Fills a span of a row with blanks of a style (for bars and highlighted rows).
    public mutating func fill(row: Int, column: Int = 0, width: Int? = nil, style: CellStyle) {
        guard row >= 0, row < rows else { return }
        let end = min(columns, column + (width ?? columns))
        for col in max(0, column)..<max(max(0, column), end) {
            clearWide(row: row, column: col)
            self[row, col] = Cell(" ", style: style)
        }
    }

    /// Blanks what is left of a wide character whose half is about to be overwritten.
    private mutating func clearWide(row: Int, column: Int) {
        let cell = self[row, column]
        if cell.isContinuation, column > 0 {
            self[row, column - 1] = Cell(" ", style: self[row, column - 1].style)
        } else if column + 1 < columns, self[row, column + 1].isContinuation {
            self[row, column + 1] = Cell(" ", style: self[row, column + 1].style)
        }
    }

    /// One row as plain text, trailing spaces removed.
    public func line(_ row: Int) -> String {
        var s = ""
        for col in 0..<columns where !self[row, col].isContinuation { s.append(self[row, col].character) }
        while s.last == " " { s.removeLast() }
        return s
    }

    /// The whole buffer as plain lines joined with newlines.
    public func text() -> String {
        (0..<rows).map(line).joined(separator: "\n")
    }
}
