import CashierService
import Foundation
import TestSupport
import XCTest

/// The real `cashier` front end in a real terminal (tmux) against a real `cashierd`: keys in, pane text out.
final class TUIEndToEndTests: XCTestCase {
    private var panes: [TmuxPane] = []
    private var homes: [TerminalHome] = []

    override func tearDown() {
        for pane in panes {
            pane.close()
            XCTAssertFalse(pane.serverIsRunning, "tmux server \(pane.socket) is still running")
        }
        // Killing the tmux server hangs up the pane; the front end must end with it.
        for home in homes {
            let deadline = Date().addingTimeInterval(10)
            while !home.runningCashierPIDs().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            let left = home.runningCashierPIDs()
            for pid in left { kill(pid, SIGKILL) }
            XCTAssertEqual(left, [], "cashier processes left behind")
        }
        panes = []
        homes = []
        super.tearDown()
    }

    // MARK: Helpers

    private func home(for service: Cashierd, domains: [String]? = nil, activated: Bool = true) throws -> TerminalHome {
        let h = try TerminalHome(domains: domains ?? service.urls, caFile: service.caFile)
        homes.append(h)
        if activated { try h.activate(service) }
        return h
    }

    private func startUI(_ home: TerminalHome, _ extra: [String] = [], columns: Int = 80, rows: Int = 24,
                         clockShift: String? = nil) throws -> TmuxPane {
        let pane = try home.startUI(extra, columns: columns, rows: rows, clockShift: clockShift)
        panes.append(pane)
        return pane
    }

    /// Waits for the checkout prompt with an active domain on the status bar (ready to take a sale).
    @discardableResult
    private func waitForCheckout(_ pane: TmuxPane, file: StaticString = #filePath, line: UInt = #line) -> String? {
        pane.waitFor("checkout ready with an active domain", file: file, line: line) {
            $0.contains("Amount or item code") && self.statusBar($0).contains("●")
        }
    }

    /// Types one amount line, goes on to the payment code and scans it.
    private func sell(_ pane: TmuxPane, amount: String, code: String, file: StaticString = #filePath, line: UInt = #line) {
        pane.typeByHand(amount)
        pane.press("Enter")
        pane.waitFor(amount, file: file, line: line)
        pane.press("Enter")
        pane.waitFor("Scan payment code", file: file, line: line)
        pane.scan(code)
    }

    private func lines(_ screen: String) -> [String] { screen.components(separatedBy: "\n") }

    /// The last non-empty line of the pane: the status bar.
    private func statusBar(_ screen: String) -> String {
        lines(screen).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
    }

    /// The line showing the sale's result banner.
    private func resultLine(_ screen: String) -> String? {
        lines(screen).first { $0.contains("PAID") || $0.contains("DECLINED") }?.trimmingCharacters(in: .whitespaces)
    }

    // MARK: Activation

    func testFirstRunActivationRefusesAWrongCodeThenShowsTheStore() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service, activated: false)
        let pane = try startUI(home)
        pane.waitFor("not activated yet", "Activation code:")

        pane.type("BCDF-GHJK")
        pane.waitFor("Activation code: BCDF-GHJK")
        pane.press("Enter")
        pane.waitFor("Wrong code")

        pane.press("C-u")
        pane.waitFor("the cleared field") { !$0.contains("BCDF-GHJK") }
        let code = try service.newActivationCode()
        pane.type(code.lowercased()) // typed in lower case: the field upper-cases it
        pane.waitFor("Activation code: \(code)")
        pane.press("Enter")
        let done = pane.waitFor("Activated.", "Activated for store: Demo Store (\(service.storeID))", "Demo Merchant")
        XCTAssertNotNil(done)

        pane.press("Enter")
        let checkout = waitForCheckout(pane)
        XCTAssertTrue(checkout.map { lines($0)[0].contains("Checkout") && lines($0)[0].contains("Demo Store") } ?? false,
                      checkout ?? "")
        XCTAssertTrue(checkout.map { statusBar($0).contains("Demo Store") } ?? false, checkout ?? "")
        // The keystore now holds the device: the command line sees it too.
        let status = try home.run(["status", "--json"])
        XCTAssertEqual(status.status, 0, status.stdout + status.stderr)
    }

    // MARK: Sales

    func testPaidSaleShowsPaidAndTheReceipt() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home)
        waitForCheckout(pane)
        sell(pane, amount: "12.34", code: paymentCode(.paid))
        let screen = try XCTUnwrap(pane.waitFor("PAID  12.34 CNY", "Order:", "Status: PAID"))
        XCTAssertTrue(screen.contains("Demo Merchant · Demo Store"), screen)
        // Enter starts the next sale.
        pane.press("Enter")
        pane.waitFor("the next sale") { $0.contains("Amount or item code") && $0.contains("0.00 CNY") && !$0.contains("PAID") }
    }

    func testATillWhoseClockIsTwoHoursAheadSellsAndTheBarAsksForTheClock() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home, clockShift: "+2h")
        waitForCheckout(pane)
        sell(pane, amount: "7.20", code: paymentCode(.paid))
        pane.waitFor("PAID  7.20 CNY", "Status: PAID")
        // The learnt offset may come out a second either side of two hours (whole-second stamps).
        pane.waitFor("the clock warning on the status bar") { screen in
            (7_199...7_201).contains { self.statusBar(screen).contains("⏱ clock \($0) s ahead") }
        }
    }

    func testDeclinedSaleShowsTheReasonAndOffersAnotherCode() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home)
        waitForCheckout(pane)
        sell(pane, amount: "8.00", code: paymentCode(.insufficientFunds))
        let screen = try XCTUnwrap(pane.waitFor("DECLINED", "Insufficient funds"))
        XCTAssertFalse(screen.contains("PAID"), screen)
        pane.press("Enter")
        pane.waitFor("Nothing was charged", "Scan payment code for 8.00 CNY")
        // The same sale is then paid with another code.
        pane.scan(paymentCode(.paid))
        pane.waitFor("PAID  8.00 CNY")
    }

    func testUserPayingSaleCountsDownWhileWaitingThenPaid() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home)
        waitForCheckout(pane)
        sell(pane, amount: "30.00", code: paymentCode(.userConfirms))
        let waiting = try XCTUnwrap(pane.waitFor("the waiting text with a countdown") {
            $0.range(of: #"Waiting for the customer to confirm… \d+ s"#, options: .regularExpression) != nil
        })
        XCTAssertTrue(waiting.contains("PAYING 30.00 CNY"), waiting)
        XCTAssertTrue(waiting.contains("Keep this screen open"), waiting)
        // Esc cannot leave a payment in flight.
        pane.press("Escape")
        pane.waitFor("PAID  30.00 CNY", timeout: 20)
    }

    // MARK: Refund

    func testRefundWithMaskedSupervisorPIN() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let order = try home.pay("20.00")
        let pane = try startUI(home)
        waitForCheckout(pane)
        pane.type("r")
        pane.waitFor("Refund", "Order number:")
        pane.type(order)
        pane.press("Enter")
        pane.waitFor("Refundable: 20.00 CNY", "Refund amount:")
        pane.type("5.00")
        pane.press("Enter")
        pane.waitFor("Supervisor PIN:")
        pane.type(Cashierd.supervisorPIN)
        let masked = try XCTUnwrap(pane.waitFor("Supervisor PIN: ****"))
        XCTAssertTrue(masked.contains("Refund amount: 5.00"), masked)
        pane.press("Enter")
        pane.waitFor("Refund 5.00 CNY of order \(order)?")
        pane.press("Enter")
        pane.waitFor("REFUNDED 5.00 CNY", "Refund done.")

        // The PIN never appeared: every screen read during the refund, less the order number and device id.
        let status = try home.run(["status"]).stdout
        let deviceId = status.range(of: #"device \S+,"#, options: .regularExpression)
            .map { String(status[$0].dropFirst(7).dropLast()) } ?? "-"
        for screen in pane.history {
            let scrubbed = screen.replacingOccurrences(of: order, with: "").replacingOccurrences(of: deviceId, with: "")
            XCTAssertFalse(scrubbed.contains(Cashierd.supervisorPIN), "the PIN is on screen:\n\(screen)")
        }
        let after = try home.run(["order", order, "--json"])
        XCTAssertTrue(after.stdout.contains("500") || after.stdout.contains("5.00"), after.stdout)
    }

    // MARK: Orders

    func testOrdersListNewestFirst() throws {
        let service = try Cashierd(groups: 2)
        defer { service.stop() }
        let home = try home(for: service)
        var numbers: [String] = []
        for amount in ["1.11", "2.22", "3.33"] {
            numbers.append(try home.pay(amount))
            Thread.sleep(forTimeInterval: 1.1) // distinct creation seconds
        }
        let pane = try startUI(home)
        waitForCheckout(pane)
        pane.type("o")
        let screen = try XCTUnwrap(pane.waitFor(numbers[0], numbers[1], numbers[2]))
        let rows = lines(screen)
        let positions = numbers.map { n in rows.firstIndex { $0.contains(n) } ?? -1 }
        XCTAssertTrue(positions[2] < positions[1] && positions[1] < positions[0], "not newest first:\n\(screen)")
        XCTAssertTrue(rows[positions[2]].contains("3.33") && rows[positions[0]].contains("1.11"), screen)
        // Enter opens the selected (newest) order.
        pane.press("Enter")
        pane.waitFor("Order: \(numbers[2])", "Status: PAID")
        pane.press("Escape")
        pane.waitFor(numbers[0])
    }

    // MARK: Failover

    func testDomainFailsOverWhileTheStatusBarReportsIt() throws {
        let first = try Cashierd(groups: 2, listen: ["127.0.0.1:0", "127.0.0.2:0"])
        defer { first.stop() }
        // A second process on the same data serves the other domain, so one domain can die alone.
        let (second, secondURL) = try first.startAnotherInstance(listen: "127.0.0.2:0")
        defer { second.stop(signal: SIGKILL) }
        let home = try home(for: first, domains: [first.urls[0], secondURL])
        let hosts = [host(of: first.urls[0]), host(of: secondURL)]

        let pane = try startUI(home)
        let ready = try XCTUnwrap(waitForCheckout(pane))
        let bar = statusBar(ready)
        let active = try XCTUnwrap(hosts.firstIndex { bar.contains("● " + $0) }, bar)
        let other = 1 - active
        XCTAssertTrue(bar.contains(hosts[other]), bar)

        if active == 0 { first.stop(signal: SIGKILL) } else { second.stop(signal: SIGKILL) }
        sell(pane, amount: "4.56", code: paymentCode(.paid))
        pane.waitFor("PAID  4.56 CNY", timeout: 20)
        pane.waitFor("the other domain active and the dead one down") {
            let b = self.statusBar($0)
            return b.contains("● " + hosts[other]) && b.contains(hosts[active] + " DOWN")
        }

        if active == 0 { second.stop(signal: SIGKILL) } else { first.stop(signal: SIGKILL) }
        // Probing is driven by failed requests (there is no idle heartbeat): the orders list makes one.
        pane.press("Enter")
        waitForCheckout(pane)
        pane.type("o")
        let down = try XCTUnwrap(pane.waitFor("the unreachable warning") { self.statusBar($0).contains("SERVICE UNREACHABLE") })
        XCTAssertFalse(statusBar(down).contains("●"), statusBar(down))
    }

    // MARK: Terminal

    func testChineseLabelsRenderWithWideColumns() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let english = try startUI(home)
        let en = try XCTUnwrap(waitForCheckout(english))
        english.press("F10")
        english.waitFor("cashier ended")

        let pane = try startUI(home, ["--lang", "zh"])
        let zh = try XCTUnwrap(pane.waitFor("收款", "合计"))
        XCTAssertFalse(zh.contains("Checkout"), zh)
        // Wide characters take two columns: the total's amount ends in the same column in both languages.
        let enTotal = try XCTUnwrap(lines(en).first { $0.contains("TOTAL") })
        let zhTotal = try XCTUnwrap(lines(zh).first { $0.contains("合计") })
        XCTAssertEqual(displayWidth(zhTotal.trimmingTrailingSpaces), displayWidth(enTotal.trimmingTrailingSpaces), "\(enTotal)\n\(zhTotal)")
    }

    /// A sale whose receipt cannot be printed is still paid and says so; F7 prints it again, marked COPY.
    func testAFailedReceiptLeavesTheSalePaidAndF7PrintsItAgain() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let printer = home.home.file("printer.txt")
        try FileManager.default.createDirectory(atPath: printer, withIntermediateDirectories: false) // cannot be written
        var configuration = home.configuration
        configuration.receiptSink = printer
        try configuration.write(to: home.configPath)
        let pane = try startUI(home)
        waitForCheckout(pane)
        sell(pane, amount: "2.50", code: paymentCode(.paid))
        let paid = try XCTUnwrap(pane.waitFor("PAID", "receipt was NOT printed"))
        XCTAssertTrue(paid.contains("F7 prints it again"), paid)
        try FileManager.default.removeItem(atPath: printer)
        pane.press("F7")
        pane.waitFor("The receipt was printed again (COPY).")
        let printed = try String(contentsOfFile: printer, encoding: .utf8)
        XCTAssertTrue(printed.contains("*** COPY ***") && printed.contains("2.50"), printed)
        pane.press("Enter")
        waitForCheckout(pane)
        pane.press("F7")
        pane.waitFor("The receipt was printed again (COPY).")
        XCTAssertEqual(try String(contentsOfFile: printer, encoding: .utf8).components(separatedBy: "*** COPY ***").count, 5,
                       "two copies, each marked at the top and the bottom")
    }

    /// A whole shift at the real front end: sign in, open with a float, a cash sale with change, a code sale,
    /// a split sale (part by code, the rest in cash), a refund started by scanning the receipt's number, a reprint, a cash sale while the service is down
    /// (forwarded once it is back), the X report, and the close with the counted cash and its Z report.
    func testAWholeShiftAtTheTill() throws {
        let service = try Cashierd(groups: 2)
        defer { service.stop() }
        let home = try home(for: service)
        let printer = home.home.file("printer.txt")
        var configuration = home.configuration
        configuration.receiptSink = printer
        try configuration.write(to: home.configPath)
        let pane = try startUI(home)
        waitForCheckout(pane)

        // Sign in and open the shift.
        pane.press("F5")
        pane.waitFor("Nobody is signed in", "Staff PIN:")
        pane.typeByHand(Cashierd.cashierPIN)
        let prompt = try XCTUnwrap(pane.waitFor("Staff PIN: ••••")).components(separatedBy: "\n").first { $0.contains("Staff PIN:") } ?? ""
        XCTAssertFalse(prompt.contains(Cashierd.cashierPIN), "the PIN is masked: \(prompt)")
        pane.press("Enter")
        pane.waitFor("No shift is open", "Opening float:")
        pane.typeByHand("100.00")
        pane.press("Enter")
        let opened = try XCTUnwrap(pane.waitFor("X REPORT", "Cash expected"))
        XCTAssertTrue(opened.contains("100.00"), opened)
        XCTAssertTrue(statusBar(opened).contains("shift "), statusBar(opened))
        pane.press("Escape")
        waitForCheckout(pane)

        // Cash: the amount typed before F4 is the cash given; the change shows large.
        pane.typeByHand("25.00")
        pane.press("Enter")
        pane.waitFor("F4: cash")
        pane.typeByHand("50.00")
        pane.press("F4")
        let cash = try XCTUnwrap(pane.waitFor("CHANGE 25.00 CNY", "PAID"))
        let cashOrder = try XCTUnwrap(cash.range(of: #"[0-9]{23}"#, options: .regularExpression).map { String(cash[$0]) }, cash)
        XCTAssertTrue((try? String(contentsOfFile: printer, encoding: .utf8))?.contains("Change") == true)
        pane.press("Enter")
        waitForCheckout(pane)

        // By code.
        sell(pane, amount: "12.50", code: paymentCode(.paid))
        pane.waitFor("PAID", "12.50")
        pane.press("Enter")
        waitForCheckout(pane)

        // Split: 10.00 by code, the rest in cash.
        pane.typeByHand("30.00")
        pane.press("Enter")
        pane.waitFor("F4: cash")
        pane.typeByHand("10.00")
        pane.press("F6")
        pane.waitFor("Scan the payment code for the part of 10.00 CNY.")
        pane.scan(paymentCode(.paid))
        pane.waitFor("Paid 10.00 CNY; 20.00 CNY still due", "Due: 20.00 CNY")
        pane.press("F4")
        pane.waitFor("PAID", "20.00", "CHANGE 0.00 CNY")
        pane.press("Enter")
        waitForCheckout(pane)

        // A refund started by scanning the receipt's number, and a reprint.
        pane.type("r")
        pane.waitFor("Order number:")
        pane.scan(cashOrder)
        pane.waitFor("Refund amount:")
        pane.type("5.00")
        pane.press("Enter")
        pane.waitFor("Supervisor PIN:")
        pane.type(Cashierd.supervisorPIN)
        pane.press("Enter")
        pane.waitFor("Refund 5.00 CNY of order \(cashOrder)?")
        pane.press("Enter")
        pane.waitFor("REFUNDED 5.00 CNY")
        pane.press("Escape")
        pane.press("Escape")
        waitForCheckout(pane)
        pane.press("F7")
        pane.waitFor("The receipt was printed again (COPY).")

        // The service goes away: cash is still taken, kept offline and sent once it is back.
        service.stop()
        pane.typeByHand("8.00")
        pane.press("Enter")
        pane.waitFor("F4: cash")
        pane.press("F4")
        let offline = try XCTUnwrap(pane.waitFor("PAID IN CASH, OFFLINE", timeout: 30))
        XCTAssertTrue(offline.contains("8.00"), offline)
        pane.press("Enter")
        pane.waitFor("the bar counts the sale to send") { self.statusBar($0).contains("1 offline to send") }
        XCTAssertTrue((try? String(contentsOfFile: printer, encoding: .utf8))?.contains("OFFLINE - NOT YET SENT") == true)
        try service.start(onTheSameAddresses: true)
        pane.waitFor("the offline sale was sent", timeout: 40) { !self.statusBar($0).contains("offline to send") && self.statusBar($0).contains("●") }

        // The X report, then the close with the counted cash: 100 + 25 + 20 + 8 - 5.
        pane.press("F5")
        let x = try XCTUnwrap(pane.waitFor("X REPORT", "Sales Cash ×3"))
        XCTAssertTrue(x.contains("Sales Sandbox ×2") && x.contains("22.50") && x.contains("Refunds Cash ×1"), x)
        XCTAssertTrue(x.contains("148.00"), "cash expected: \(x)")
        pane.typeByHand("148.00")
        pane.press("F6")
        let z = try XCTUnwrap(pane.waitFor("Z REPORT No. 1", "Cash counted"))
        XCTAssertTrue(z.contains("Difference") && z.contains("0.00 CNY"), z)
        XCTAssertTrue((try? String(contentsOfFile: printer, encoding: .utf8))?.contains("Z REPORT No. 1") == true, "the Z is printed")
        let orders = try home.run(["orders", "--json"]).stdout
        XCTAssertEqual(orders.components(separatedBy: "\"amount\":800").count - 1, 1, "the offline sale is one order: \(orders)")
    }

    /// A payment code scanned into the line field (the customer was quick) is refused there, never taken
    /// for an amount; the same sale then goes on with the amount typed and the code scanned at its prompt.
    func testAScannedCodeNeverBecomesAnAmount() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home)
        waitForCheckout(pane)
        let code = paymentCode(.paid)
        pane.scan(code)
        let refused = try XCTUnwrap(pane.waitFor("was scanned and is not an item code"))
        XCTAssertTrue(refused.contains("0.00 CNY"), refused)
        sell(pane, amount: "8.80", code: code)
        pane.waitFor("PAID", "8.80")
    }

    /// A terminal set to a locale the system does not have (zh_CN.UTF-8 on a minimal image) still draws
    /// Chinese: the front end falls back to a UTF-8 character type instead of blanking wide characters.
    func testChineseDrawsWhenTheLocaleIsNotInstalled() throws {
        let installed = try runCommand("/usr/bin/locale", ["-a"], timeoutSeconds: 10).stdout.lowercased()
        try XCTSkipIf(installed.contains("zh_cn"), "zh_CN is installed here; the fallback is not needed")
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        home.localeEnvironment = ["LANG": "zh_CN.UTF-8", "LC_ALL": ""]
        let pane = try startUI(home)
        let screen = try XCTUnwrap(pane.waitFor("收款", "合计"))
        XCTAssertFalse(screen.contains("Checkout"), screen)
    }

    func testSmallTerminalShowsTooSmallAndResizingBackRedraws() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home, columns: 70, rows: 20)
        pane.waitFor("The terminal is too small", "It is 70×20; enlarge it to at least 80×24.")
        try pane.resize(columns: 80, rows: 24)
        let screen = try XCTUnwrap(waitForCheckout(pane))
        XCTAssertFalse(screen.contains("too small"), screen)
        try pane.resize(columns: 72, rows: 24)
        pane.waitFor("It is 72×24")
        try pane.resize(columns: 80, rows: 24)
        waitForCheckout(pane)
    }

    func testF10QuitsWithTheTerminalRestored() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let pane = try startUI(home)
        waitForCheckout(pane)
        XCTAssertEqual(pane.format("#{alternate_on}"), "1")
        pane.press("F10")
        let screen = try XCTUnwrap(pane.waitFor("cashier ended: status 0, tty restored"))
        XCTAssertFalse(screen.contains("Checkout"), "the program's screen is still shown:\n\(screen)")
        XCTAssertEqual(pane.format("#{alternate_on}"), "0")
        XCTAssertEqual(try String(contentsOfFile: home.exitFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                       "0 restored")
    }

    // MARK: Script mode

    func testDumpScreenFromTheShellShowsTheSamePaidText() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let home = try home(for: service)
        let dump = try home.run(["--script", "12.34<Enter><Enter>\(paymentCode(.paid))<Enter>", "--dump-screen"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let dumped = try XCTUnwrap(resultLine(dump.stdout), dump.stdout)
        XCTAssertEqual(dumped, "PAID  12.34 CNY")
        XCTAssertTrue(dump.stdout.contains("Status: PAID"), dump.stdout)

        let pane = try startUI(home)
        waitForCheckout(pane)
        sell(pane, amount: "12.34", code: paymentCode(.paid))
        let screen = try XCTUnwrap(pane.waitFor("PAID  12.34 CNY"))
        XCTAssertEqual(resultLine(screen), dumped)
    }
}

/// Display columns of pane text: East Asian wide characters take two.
func displayWidth(_ text: String) -> Int {
    text.unicodeScalars.reduce(0) { width, s in
        let v = s.value
        let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v)
        return width + (wide ? 2 : 1)
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
