import Foundation

/// The drill's picture, as the seed draws its own: paid sales per second of each order group over the
/// whole drill, the phases marked, so an operator sees the traffic leave a failed group and come back
/// while the total stays even. Pure: records in, SVG text out (viewable in any browser).
enum DrillChart {
    struct Sale { var at: Double; var group: Int }
    struct Phase { var name: String; var start: Double }

    static let width = 960.0, height = 420.0
    static let left = 60.0, right = 20.0, top = 30.0, bottom = 110.0
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// One `<polyline class="series" data-group="N">` per group (paid sales per second, in 1-second bins),
    /// one dashed `total` line, and a marked line with its name at the start of each phase.
    static func svg(sales: [Sale], phases: [Phase], groups: Int, duration: Double) -> String {
        let seconds = max(1, Int(duration.rounded(.up)))
        var bins = Array(repeating: Array(repeating: 0, count: seconds), count: groups)
        for s in sales where s.group >= 0 && s.group < groups {
            bins[s.group][min(seconds - 1, max(0, Int(s.at)))] += 1
        }
        let totals = (0..<seconds).map { i in bins.reduce(0) { $0 + $1[i] } }
        let peak = max(1, totals.max() ?? 1)
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ t: Double) -> Double { left + plotW * t / Double(seconds) }
        func y(_ v: Int) -> Double { top + plotH * (1 - Double(v) / Double(peak)) }
        func points(_ values: [Int]) -> String {
            values.enumerated().map { String(format: "%.1f,%.1f", x(Double($0.offset) + 0.5), y($0.element)) }.joined(separator: " ")
        }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;")
        }
        var out: [String] = []
        out.append(#"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif" font-size="11">"#)
        out.append(#"<title>Paid sales per second per order group</title>"#)
        out.append(#"<rect x="0" y="0" width="\#(Int(width))" height="\#(Int(height))" fill="white"/>"#)
        out.append(String(format: #"<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>"#, left, top + plotH, left + plotW, top + plotH))
        out.append(String(format: #"<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>"#, left, top, left, top + plotH))
        out.append(String(format: #"<text x="%.1f" y="%.1f" text-anchor="end">%d/s</text>"#, left - 6, top + 4, peak))
        out.append(String(format: #"<text x="%.1f" y="%.1f" text-anchor="end">0</text>"#, left - 6, top + plotH + 4))
        out.append(String(format: #"<text x="%.1f" y="%.1f" text-anchor="end">%d s</text>"#, left + plotW, top + plotH + 16, seconds))
        for (i, p) in phases.enumerated() {
            let px = x(p.start)
            out.append(String(format: #"<line class="phase" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="gray" stroke-dasharray="2,3"/>"#, px, top, px, top + plotH))
            out.append(String(format: #"<text class="phase-name" transform="translate(%.1f,%.1f) rotate(45)">"#, px + 2, top + plotH + 24)
                       + "\(i) \(escape(p.name))</text>")
        }
        out.append(#"<polyline class="total" fill="none" stroke="black" stroke-width="1.5" stroke-dasharray="6,3" points="\#(points(totals))"/>"#)
        for g in 0..<groups {
            let color = palette[g % palette.count]
            out.append(#"<polyline class="series" data-group="\#(g)" fill="none" stroke="\#(color)" stroke-width="1.5" points="\#(points(bins[g]))"/>"#)
            out.append(String(format: #"<text x="%.1f" y="%.1f" "#, left + 10 + Double(g) * 70, top - 10) + "fill=\"\(color)\">group \(g)</text>")
        }
        out.append(String(format: #"<text x="%.1f" y="%.1f">total (dashed)</text>"#, left + 10 + Double(groups) * 70, top - 10))
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
