#!/usr/bin/env python3
"""An Alipay OpenAPI gateway simulator for the Alipay adapter's tests. TEST INFRASTRUCTURE, NOT PRODUCT.

It speaks the published protocol of face-to-face barcode payment: form-encoded requests to
/gateway.do (common parameters in the query string or the body), the app's RSA2 signature checked
with the app's public key, answers shaped {"<method>_response":{...},"sign":"..."} signed with
"Alipay's" private key over the exact bytes of the response object. It keeps its own books (codes
single-use, idempotent by out_trade_no and out_request_no, refunds never above the paid amount),
serves the day's statement as Alipay does (a download address, then a zip of GBK CSV files), and can
be told to misbehave. It listens on 127.0.0.1 only. RSA and certificates come from the openssl CLI.

  python3 alipay_sim.py --dir DIR [--app-id ID] [--confirm-after-ms MS] [--auto-close-ms MS] [--max-seconds S]

DIR receives (made once, reused when present): ca.pem (TLS CA), server.pem/server.key (TLS, SAN
IP:127.0.0.1 and DNS:localhost), alipay_private.pem/alipay_public.pem ("Alipay's" keys),
app_private.pem (PKCS#1) / app_public.pem (the merchant app's keys, which the adapter under test uses).
When ready it prints one JSON line: {"primary_port":P,"backup_port":B,"control_port":C,"dir":DIR}.

Payment codes decide what the buyer does. They are valid Alipay codes (16-24 digits starting 25-30):
18 digits, "28", two digits of behaviour, then any 14 digits.
  2800...  pays at once                          -> 10000
  2801...  confirms on the phone after confirm_after_ms -> 10003, then TRADE_SUCCESS
  2802...  never confirms                        -> 10003; WAIT_BUYER_PAY until cancelled or auto-closed
  2803...  balance not enough                    -> 40004 ACQ.BUYER_BALANCE_NOT_ENOUGH
  2804...  code invalid or expired               -> 40004 ACQ.PAYMENT_AUTH_CODE_INVALID
  2805...  over the buyer's day limit            -> 40004 ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR
  2806...  trade closed                          -> 40004 ACQ.TRADE_HAS_CLOSE
  2807...  a decline without a mapping of ours   -> 40004 ACQ.PAYMENT_FAIL
  other    -> 40004 ACQ.PAYMENT_AUTH_CODE_INVALID
A code that already made a trade is refused for any other order (ACQ.PAYMENT_AUTH_CODE_INVALID).

Control, plain HTTP on 127.0.0.1:control_port:
  POST /control with a JSON object, any of:
    "faults": [{"method": "alipay.trade.pay", "kind": K, "count": 1, "delay_ms": 3000}]   (appended)
       K = "code20000"    process the call, answer 20000 isp.unknow-error
           "system_error" process the call, answer 40004 ACQ.SYSTEM_ERROR
           "delay"        process the call, answer after delay_ms (the client times out first)
           "drop"         process the call, close the connection without an answer
           "bad_sign"     answer signed over other bytes
           "tamper"       answer altered after signing (code becomes 10000)
           "unsigned"     answer without its sign member
    "primary_up": false      close the primary listener (connections are refused; the backup stays)
    "cancel_retry_flag": N   the next N cancels answer 40004 ACQ.SYSTEM_ERROR with retry_flag=Y, doing nothing
    "confirm_after_ms": MS
  GET /books -> {"payments": {out_trade_no: {...}}, "refunds": [...], "requests": [...]}
"""

import argparse
import base64
import datetime
import decimal
import io
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
LOCK = threading.Lock()


def now_ms():
    return int(time.time() * 1000)


def shanghai(ms, fmt="%Y-%m-%d %H:%M:%S"):
    return datetime.datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime(fmt)


def run(args, data=None):
    return subprocess.run(args, input=data, capture_output=True, check=True, stdin=None if data is not None else subprocess.DEVNULL).stdout


# ---------------------------------------------------------------------------------------------- keys

def make_keys(d):
    if os.path.exists(os.path.join(d, "keys.done")):
        return
    os.makedirs(d, exist_ok=True)
    p = lambda name: os.path.join(d, name)
    run(["openssl", "genrsa", "-traditional", "-out", p("app_private.pem"), "2048"])
    run(["openssl", "rsa", "-in", p("app_private.pem"), "-pubout", "-out", p("app_public.pem")])
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p("alipay_private.pem")])
    run(["openssl", "pkey", "-in", p("alipay_private.pem"), "-pubout", "-out", p("alipay_public.pem")])
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30", "-subj", "/CN=alipay-sim-ca",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost"])
    with open(p("server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-set_serial", str(secrets.randbits(63)), "-days", "30", "-extfile", p("server.ext"), "-out", p("server.pem")])
    for name in ("app_private.pem", "alipay_private.pem", "server.key", "ca.key"):
        os.chmod(p(name), 0o600)
    with open(p("keys.done"), "w") as f:
        f.write("ok\n")


class Keys:
    def __init__(self, d):
        self.dir = d
        self.alipay_private = os.path.join(d, "alipay_private.pem")
        self.app_public = os.path.join(d, "app_public.pem")

    def sign(self, data):
        return base64.b64encode(run(["openssl", "dgst", "-sha256", "-sign", self.alipay_private], data)).decode()

    def verify_app(self, data, sign_b64):
        try:
            signature = base64.b64decode(sign_b64, validate=True)
        except Exception:
            return False
        with tempfile.NamedTemporaryFile(dir=self.dir, prefix="sig-") as f:
            f.write(signature)
            f.flush()
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.app_public, "-signature", f.name],
                               input=data, capture_output=True)
            return r.returncode == 0


# --------------------------------------------------------------------------------------------- books

class Books:
    def __init__(self, app_id, confirm_after_ms, auto_close_ms):
        self.app_id = app_id
        self.confirm_after_ms = confirm_after_ms
        self.auto_close_ms = auto_close_ms
        self.payments = {}      # out_trade_no -> dict
        self.codes = {}         # auth_code -> out_trade_no
        self.refunds = {}       # (out_trade_no, out_request_no) -> dict
        self.requests = []      # every gateway request that reached a handler
        self.faults = []
        self.cancel_retry_flag = 0
        self.bills = {}         # token -> (expires_ms, bytes)
        self.seq = 0

    def trade_no(self):
        self.seq += 1
        return shanghai(now_ms(), "%Y%m%d") + "2200" + "%016d" % (secrets.randbelow(10 ** 10) * 1000000 + self.seq)

    def take_fault(self, method):
        for fault in self.faults:
            if fault.get("method") in (None, method) and fault.get("count", 1) > 0:
                fault["count"] = fault.get("count", 1) - 1
                return fault
        return None

    def settle(self, p):
        """Moves a waiting payment on by the clock."""
        if p["status"] != "WAIT_BUYER_PAY":
            return
        t = now_ms()
        if p.get("confirm_at") and t >= p["confirm_at"]:
            p["status"] = "TRADE_SUCCESS"
            p["paid_at"] = p["confirm_at"]
        elif t >= p["created"] + self.auto_close_ms:
            p["status"] = "TRADE_CLOSED"

    @staticmethod
    def fail(sub_code, sub_msg, **extra):
        answer = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
        answer.update(extra)
        return answer

    @staticmethod
    def yuan(fen):
        return "%d.%02d" % (fen // 100, fen % 100)

    # alipay.trade.pay
    def pay(self, biz):
        no = biz.get("out_trade_no", "")
        code = biz.get("auth_code", "")
        if biz.get("scene") != "bar_code" or not no or not code or not biz.get("subject"):
            return self.fail("ACQ.INVALID_PARAMETER", "参数无效")
        try:
            amount = decimal.Decimal(biz.get("total_amount", ""))
        except decimal.InvalidOperation:
            return self.fail("ACQ.INVALID_PARAMETER", "total_amount")
        if amount <= 0 or amount != amount.quantize(decimal.Decimal("0.01")):
            return self.fail("ACQ.INVALID_PARAMETER", "total_amount")
        fen = int(amount * 100)
        existing = self.payments.get(no)
        if existing is not None:
            existing["attempts"] += 1
            self.settle(existing)
            return self.pay_answer(existing)
        valid = re.fullmatch(r"(2[5-9]|30)\d{14,22}", code) is not None
        behaviour = code[2:4] if valid and code.startswith("28") and len(code) == 18 else "xx"
        if code in self.codes and self.codes[code] != no:
            behaviour = "used"
        p = {"out_trade_no": no, "auth_code": code, "amount_fen": fen, "subject": biz.get("subject", ""),
             "store_id": biz.get("store_id", ""), "terminal_id": biz.get("terminal_id", ""),
             "created": now_ms(), "attempts": 1, "trade_no": None, "paid_at": None, "decline": None}
        declines = {"03": "ACQ.BUYER_BALANCE_NOT_ENOUGH", "04": "ACQ.PAYMENT_AUTH_CODE_INVALID",
                    "05": "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", "06": "ACQ.TRADE_HAS_CLOSE",
                    "07": "ACQ.PAYMENT_FAIL"}
        if behaviour in ("00", "01", "02"):
            p["trade_no"] = self.trade_no()
            self.codes[code] = no
            if behaviour == "00":
                p["status"] = "TRADE_SUCCESS"
                p["paid_at"] = now_ms()
            else:
                p["status"] = "WAIT_BUYER_PAY"
                p["confirm_at"] = now_ms() + self.confirm_after_ms if behaviour == "01" else None
        else:
            p["status"] = "DECLINED"
            p["decline"] = declines.get(behaviour, "ACQ.PAYMENT_AUTH_CODE_INVALID")
        self.payments[no] = p
        return self.pay_answer(p)

    def pay_answer(self, p):
        base = {"out_trade_no": p["out_trade_no"], "total_amount": self.yuan(p["amount_fen"])}
        if p["status"] == "TRADE_SUCCESS":
            a = {"code": "10000", "msg": "Success", "trade_no": p["trade_no"], "buyer_logon_id": "159****5620",
                 "receipt_amount": self.yuan(p["amount_fen"]), "gmt_payment": shanghai(p["paid_at"])}
            a.update(base)
            return a
        if p["status"] == "WAIT_BUYER_PAY":
            a = {"code": "10003", "msg": "等待用户付款", "trade_no": p["trade_no"]}
            a.update(base)
            return a
        if p["status"] == "TRADE_CLOSED":
            return self.fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭", **base)
        return self.fail(p["decline"], "支付失败", **base)

    # alipay.trade.query
    def query(self, biz):
        p = self.payments.get(biz.get("out_trade_no", ""))
        if p is None or p["status"] == "DECLINED":
            return self.fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        self.settle(p)
        a = {"code": "10000", "msg": "Success", "trade_no": p["trade_no"], "out_trade_no": p["out_trade_no"],
             "trade_status": p["status"], "total_amount": self.yuan(p["amount_fen"])}
        if p["paid_at"]:
            a["send_pay_date"] = shanghai(p["paid_at"])
        return a

    # alipay.trade.cancel
    def cancel(self, biz):
        no = biz.get("out_trade_no", "")
        if self.cancel_retry_flag > 0:
            self.cancel_retry_flag -= 1
            return self.fail("ACQ.SYSTEM_ERROR", "系统错误", retry_flag="Y")
        p = self.payments.get(no)
        if p is None or p["status"] == "DECLINED":
            return self.fail("ACQ.TRADE_NOT_EXIST", "交易不存在", retry_flag="N")
        self.settle(p)
        action = "close"
        if p["status"] == "TRADE_SUCCESS":
            refunded = sum(r["amount_fen"] for k, r in self.refunds.items() if k[0] == no)
            if refunded < p["amount_fen"]:
                self.refunds[(no, "")] = {"out_trade_no": no, "out_request_no": "", "amount_fen": p["amount_fen"] - refunded,
                                          "at": now_ms(), "trade_no": p["trade_no"], "by_cancel": True}
            action = "refund"
        p["status"] = "TRADE_CLOSED"
        p["cancelled"] = True
        return {"code": "10000", "msg": "Success", "trade_no": p["trade_no"], "out_trade_no": no,
                "retry_flag": "N", "action": action}

    # alipay.trade.refund
    def refund(self, biz):
        no = biz.get("out_trade_no", "")
        request_no = biz.get("out_request_no", "") or no
        try:
            amount = decimal.Decimal(biz.get("refund_amount", ""))
        except decimal.InvalidOperation:
            return self.fail("ACQ.INVALID_PARAMETER", "refund_amount")
        if amount <= 0 or amount != amount.quantize(decimal.Decimal("0.01")):
            return self.fail("ACQ.INVALID_PARAMETER", "refund_amount")
        fen = int(amount * 100)
        p = self.payments.get(no)
        if p is None or p["status"] == "DECLINED":
            return self.fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        self.settle(p)
        refunded = sum(r["amount_fen"] for k, r in self.refunds.items() if k[0] == no)
        base = {"trade_no": p["trade_no"], "out_trade_no": no, "buyer_logon_id": "159****5620"}
        earlier = self.refunds.get((no, request_no))
        if earlier is not None:
            if earlier["amount_fen"] != fen:
                return self.fail("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致", **base)
            a = {"code": "10000", "msg": "Success", "fund_change": "N", "refund_fee": self.yuan(refunded)}
            a.update(base)
            return a
        if p["status"] != "TRADE_SUCCESS":
            return self.fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法", **base)
        if refunded + fen > p["amount_fen"]:
            return self.fail("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效", **base)
        self.refunds[(no, request_no)] = {"out_trade_no": no, "out_request_no": request_no, "amount_fen": fen,
                                          "at": now_ms(), "trade_no": p["trade_no"], "by_cancel": False}
        if refunded + fen == p["amount_fen"]:
            p["status"] = "TRADE_CLOSED"
        a = {"code": "10000", "msg": "Success", "fund_change": "Y", "refund_fee": self.yuan(refunded + fen),
             "gmt_refund_pay": shanghai(now_ms())}
        a.update(base)
        return a

    # alipay.trade.fastpay.refund.query
    def refund_query(self, biz):
        no = biz.get("out_trade_no", "")
        p = self.payments.get(no)
        if p is None or p["status"] == "DECLINED":
            return self.fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        r = self.refunds.get((no, biz.get("out_request_no", "")))
        if r is None:
            return {"code": "10000", "msg": "Success"}  # the query worked; there is no such refund
        return {"code": "10000", "msg": "Success", "trade_no": p["trade_no"], "out_trade_no": no,
                "out_request_no": r["out_request_no"], "total_amount": self.yuan(p["amount_fen"]),
                "refund_amount": self.yuan(r["amount_fen"]), "refund_status": "REFUND_SUCCESS"}

    # alipay.data.dataservice.bill.downloadurl.query
    def bill(self, biz, base_url):
        if biz.get("bill_type") != "trade" or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", biz.get("bill_date", "")):
            return self.fail("isp.bill_not_exist", "账单不存在")
        day = biz["bill_date"]
        token = secrets.token_hex(16)
        self.bills[token] = (now_ms() + 30_000, self.bill_zip(day))
        return {"code": "10000", "msg": "Success", "bill_download_url": "%s/bill/%s.csv.zip" % (base_url, token)}

    def bill_zip(self, day):
        header = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                  "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                  "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")
        rows, paid_total, paid_count, refund_total, refund_count = [], 0, 0, 0, 0
        for p in self.payments.values():
            self.settle(p)
            if p["paid_at"] and shanghai(p["paid_at"], "%Y-%m-%d") == day:
                subject = p["subject"].replace(",", " ")
                rows.append("%s\t,%s\t,交易,%s,%s,%s,%s,,,%s,159****5620,%s,%s,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,0.00,0.00," % (
                    p["trade_no"], p["out_trade_no"], subject, shanghai(p["created"]), shanghai(p["paid_at"]),
                    p["store_id"], p["terminal_id"], self.yuan(p["amount_fen"]), self.yuan(p["amount_fen"])))
                paid_total += p["amount_fen"]
                paid_count += 1
        for r in self.refunds.values():
            if shanghai(r["at"], "%Y-%m-%d") == day:
                p = self.payments[r["out_trade_no"]]
                rows.append("%s\t,%s\t,退款,%s,%s,%s,%s,,,%s,159****5620,-%s,-%s,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,%s\t,0.00,0.00," % (
                    r["trade_no"], r["out_trade_no"], p["subject"].replace(",", " "), shanghai(p["created"]),
                    shanghai(r["at"]), p["store_id"], p["terminal_id"], self.yuan(r["amount_fen"]),
                    self.yuan(r["amount_fen"]), r["out_request_no"]))
                refund_total += r["amount_fen"]
                refund_count += 1
        compact = day.replace("-", "")
        start = datetime.datetime.strptime(day, "%Y-%m-%d")
        end = start + datetime.timedelta(days=1)
        account = "2088000000000000" + "0156"
        detail = "\r\n".join([
            "#支付宝业务明细查询",
            "#账号：[%s]" % account,
            "#起始日期：[%s 00:00:00]   终止日期：[%s 00:00:00]" % (start.strftime("%Y年%m月%d日"), end.strftime("%Y年%m月%d日")),
            "#-----------------------------------------业务明细列表----------------------------------------",
            header] + rows + [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：%d笔，商家实收共%s元，商家优惠共0.00元" % (paid_count, self.yuan(paid_total)),
            "#退款合计：%d笔，商家实收退款共%s元，商家优惠退款共0.00元" % (refund_count, self.yuan(refund_total)),
            "#导出时间：[%s]" % shanghai(now_ms(), "%Y年%m月%d日 %H:%M:%S"), ""])
        summary = "\r\n".join([
            "#支付宝业务汇总查询", "#账号：[%s]" % account,
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
            "合计,,%d,%d,%s,%s" % (paid_count, refund_count, self.yuan(paid_total), self.yuan(paid_total - refund_total)), ""])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("%s_%s_业务明细.csv" % (account, compact), detail.encode("gbk"))
            z.writestr("%s_%s_业务明细(汇总).csv" % (account, compact), summary.encode("gbk"))
        return out.getvalue()

    def snapshot(self):
        for p in self.payments.values():
            self.settle(p)
        return {"payments": self.payments,
                "refunds": [dict(r) for r in self.refunds.values()],
                "requests": self.requests,
                "cancel_retry_flag": self.cancel_retry_flag}


# ------------------------------------------------------------------------------------------- gateway

METHODS = {"alipay.trade.pay", "alipay.trade.query", "alipay.trade.cancel", "alipay.trade.refund",
           "alipay.trade.fastpay.refund.query", "alipay.data.dataservice.bill.downloadurl.query"}


def string_to_sign(params):
    return "&".join("%s=%s" % (k, params[k]) for k in sorted(params, key=lambda k: k.encode()) if k != "sign" and params[k] != "")


def gateway_handler(books, keys, gateway_name):
    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def setup(self):
            super().setup()
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True

        def log_message(self, fmt, *args):
            sys.stderr.write("[%s] %s\n" % (gateway_name, fmt % args))

        def send(self, status, body, content_type="application/json;charset=utf-8"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            m = re.fullmatch(r"/bill/([0-9a-f]{32})\.csv\.zip", self.path)
            with LOCK:
                entry = books.bills.get(m.group(1)) if m else None
            if entry is None or entry[0] < now_ms():
                self.send(404, "下载超时，请重新下载".encode("gbk"), "text/plain;charset=gbk")
                return
            self.send(200, entry[1], "application/oct-stream")

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length > 0 else b""
            if url.path != "/gateway.do":
                self.send(404, b"{}")
                return
            params = {}
            try:
                for source in (url.query, raw.decode("utf-8")):
                    for k, v in urllib.parse.parse_qsl(source, keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                                                       errors="strict"):
                        if k in params:
                            raise ValueError("parameter %s twice" % k)
                        params[k] = v
            except (ValueError, UnicodeDecodeError):
                self.answer_error("40002", "isv.invalid-parameter", "参数无效", None)
                return
            method = params.get("method", "")
            try:
                biz = json.loads(params.get("biz_content", "{}"))
            except ValueError:
                biz = {}
            with LOCK:
                books.requests.append({"method": method, "gateway": gateway_name, "out_trade_no": biz.get("out_trade_no", ""),
                                       "out_request_no": biz.get("out_request_no", ""), "at": now_ms()})
            missing = [k for k in ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version", "biz_content") if not params.get(k)]
            if missing:
                self.answer_error("40001", "isv.missing-" + missing[0].replace("_", "-"), "缺少参数", method)
                return
            if method not in METHODS:
                self.answer_error("40002", "isv.invalid-method", "不存在的方法名", method)
                return
            if params["app_id"] != books.app_id:
                self.answer_error("40002", "isv.invalid-app-id", "无效的AppID参数", method)
                return
            if params["sign_type"] != "RSA2" or params["charset"].lower() != "utf-8" or params["version"] != "1.0" \
                    or params.get("format", "JSON").upper() != "JSON" \
                    or not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", params["timestamp"]):
                self.answer_error("40002", "isv.invalid-parameter", "公共参数无效", method)
                return
            content = string_to_sign(params)
            if not keys.verify_app(content.encode("utf-8"), params["sign"]):
                # Like the real gateway, the message echoes the string it checked.
                self.answer_error("40002", "isv.invalid-signature", "验签出错，网关生成的验签字符串为：" + content, method)
                return
            with LOCK:
                fault = books.take_fault(method)
                base_url = "https://127.0.0.1:%d" % self.server.server_address[1]
                if method == "alipay.trade.pay":
                    answer = books.pay(biz)
                elif method == "alipay.trade.query":
                    answer = books.query(biz)
                elif method == "alipay.trade.cancel":
                    answer = books.cancel(biz)
                elif method == "alipay.trade.refund":
                    answer = books.refund(biz)
                elif method == "alipay.trade.fastpay.refund.query":
                    answer = books.refund_query(biz)
                else:
                    answer = books.bill(biz, base_url)
            kind = fault["kind"] if fault else None
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "delay":
                time.sleep(fault.get("delay_ms", 3000) / 1000)
            if kind == "code20000":
                answer = {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙"}
            elif kind == "system_error":
                answer = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR", "sub_msg": "系统错误"}
            node = method.replace(".", "_") + "_response"
            text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
            sign = keys.sign(text.encode("utf-8"))
            if kind == "bad_sign":
                sign = keys.sign((text + " ").encode("utf-8"))
            if kind == "tamper":
                changed = dict(answer)
                changed.update({"code": "10000", "msg": "Success", "trade_no": "2099" + "0" * 24})
                changed.pop("sub_code", None)
                changed.pop("sub_msg", None)
                text = json.dumps(changed, ensure_ascii=False, separators=(",", ":"))
            body = '{"%s":%s' % (node, text)
            if kind != "unsigned":
                body += ',"sign":"%s"' % sign
            self.send(200, (body + "}").encode("utf-8"))

        def answer_error(self, code, sub_code, sub_msg, method):
            # Gateway-level errors: error_response, left unsigned here (Alipay may not sign them).
            msg = {"40001": "Missing Required Arguments", "40002": "Invalid Arguments"}.get(code, "Error")
            text = json.dumps({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}, ensure_ascii=False,
                              separators=(",", ":"))
            self.send(200, ('{"error_response":%s}' % text).encode("utf-8"))

    return Gateway


def control_handler(books, servers):
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def log_message(self, fmt, *args):
            sys.stderr.write("[control] %s\n" % (fmt % args))

        def send(self, obj):
            body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with LOCK:
                self.send(books.snapshot())

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            order = json.loads(self.rfile.read(length) or b"{}")
            with LOCK:
                books.faults.extend(order.get("faults", []))
                if "cancel_retry_flag" in order:
                    books.cancel_retry_flag = int(order["cancel_retry_flag"])
                if "confirm_after_ms" in order:
                    books.confirm_after_ms = int(order["confirm_after_ms"])
            if order.get("primary_up") is False and servers.get("primary"):
                primary = servers.pop("primary")
                primary.shutdown()
                primary.server_close()
            self.send({"ok": True})

    return Control


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description="Alipay gateway simulator (test infrastructure)")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--app-id", default="2021000000000001")
    parser.add_argument("--confirm-after-ms", type=int, default=2000)
    parser.add_argument("--auto-close-ms", type=int, default=120_000)
    parser.add_argument("--max-seconds", type=int, default=900, help="exit after this long whatever happens")
    args = parser.parse_args()
    parent = os.getppid()
    try:
        os.setpgrp()  # so that the test can end this process and any openssl child together
    except OSError:
        pass
    make_keys(args.dir)
    keys = Keys(args.dir)
    books = Books(args.app_id, args.confirm_after_ms, args.auto_close_ms)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(args.dir, "server.pem"), os.path.join(args.dir, "server.key"))
    servers = {}
    for name in ("primary", "backup"):
        server = Server(("127.0.0.1", 0), gateway_handler(books, keys, name))
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        servers[name] = server
    control = Server(("127.0.0.1", 0), control_handler(books, servers))
    ports = {"primary_port": servers["primary"].server_address[1], "backup_port": servers["backup"].server_address[1],
             "control_port": control.server_address[1], "dir": args.dir}
    for server in list(servers.values()) + [control]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps(ports), flush=True)
    # Bounded: gone when the test that started it is gone, and after --max-seconds in any case.
    deadline = time.monotonic() + args.max_seconds
    try:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
