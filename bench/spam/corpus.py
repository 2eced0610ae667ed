#!/usr/bin/env python3
"""A labelled set of messages for the spam benchmark: ham and spam written the way each really arrives.

   bench/spam/corpus.py DIR [COUNT]     # DIR/ham/*.eml and DIR/spam/*.eml, COUNT of each (default 300)

Deterministic (seeded), so runs compare. Ham is an office's mail: colleagues arranging things, customers
and suppliers with invoices and attachments, replies with quoted text, mailing-list and newsletter mail in
HTML with unsubscribe links, automated notices with shouting subjects. Spam is what reaches port 25: pills,
loans, crypto, lottery and advance-fee stories, phishing that copies a bank's or a parcel service's notice,
fake invoices with a program in a zip. Both sides have well-formed and sloppy members (a ham newsletter in
HTML only, a spam with every header right), so the classes overlap as they do in life; no message is built
from a rule of the filter under test. Bodies are varied by drawing sentences from pools, names, amounts
and dates, so no two are alike.
"""
import base64, io, os, random, sys, zipfile
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

rng = random.Random(20261205)
FIRST = "Anna Ben Chloe David Emma Farid Grace Hugo Ines Jamal Kate Liam Mona Nils Olga Pavel Rosa Sami Tara Umar Vera Will".split()
LAST = "Baker Novak Okafor Schmidt Rossi Dubois Kowalski Tanaka Silva Jensen Murphy Haddad Moreau Weber".split()
OFFICE = "office.test"
PARTNERS = ["harbourlogistics.co.uk", "brightpaper.de", "nordicsupply.se", "acme-tools.com", "greenleaf-catering.fr", "citycouncil.gov.uk", "lakeside-dental.com"]
LISTS = ["lists.debian.org", "news.localchamber.org", "updates.accountingsoft.com", "newsletter.bookshop.co.uk"]
SPAM_DOMAINS = ["bestdeal-pharma.top", "cryptoboost.click", "secure-verify-account.xyz", "win-prize-now.info", "cheap-loans.biz", "parcel-track-help.online", "meds4less.shop"]


def name():
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def addr(full, domain):
    first, last = full.lower().split()
    return rng.choice([f"{first}.{last}@{domain}", f"{first}@{domain}", f"{first[0]}{last}@{domain}"])


def date():
    when = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(40000))
    return format_datetime(when)


def msgid(domain):
    return f"<{rng.getrandbits(64):x}.{rng.getrandbits(32):x}@{domain}>"


def pick(pool, k):
    return " ".join(rng.sample(pool, k))


WORK = [
    "Could we move the meeting to Thursday afternoon?", "I have attached the revised figures for the third quarter.",
    "The printer on the second floor is working again.", "Please find the signed contract enclosed.",
    "Let me know if the delivery date still suits you.", "We are still waiting for the plumber to confirm.",
    "The client asked for a second copy of the quote.", "I will be out of the office on Friday.",
    "Thanks for sending the minutes so quickly.", "Can you check the numbers on page four?",
    "The new laptops arrive next week; IT will set them up.", "Lunch is on us after the audit.",
    "The parking permits need renewing by the end of the month.", "Here are my notes from the call with the supplier.",
    "The courier will collect the samples at ten.", "Do you have the key to the archive room?",
    "I spoke to the bank about the overdraft and they agreed.", "The heating engineer comes on Monday morning.",
    "We should order more paper before the quarter closes.", "Sarah has agreed to cover reception on Tuesday.",
    "The spreadsheet now has a column for the VAT.", "I think we can close the ticket for the broken blind.",
    "Our insurance renewal documents arrived this morning.", "Please remember to lock the side door tonight.",
]
SUBJECTS_HAM = [
    "Meeting on Thursday", "Re: quote for the new shelving", "Invoice {n} from {partner}", "Minutes of the team meeting",
    "Re: Re: delivery schedule", "Holiday rota", "Fwd: parking permits", "Your order {n} has shipped", "Q3 figures",
    "Re: contract renewal", "Out of office", "Lunch on Friday?", "Site visit next week", "Re: broken blind in room 4",
    "URGENT: server room temperature alarm", "Reminder: fire drill at 11:00", "Training day agenda",
]
NEWS = [
    "This month we look at the changes to the VAT rules for small businesses.", "Our annual general meeting takes place on the 14th.",
    "New titles in the shop this week include three books on local history.", "The security update fixes two problems in the importer.",
    "Members are invited to the networking breakfast at the town hall.", "Release 4.2 is available for download from the usual place.",
    "The survey results are in: thank you to everyone who answered.", "Our opening hours change over the holiday period.",
]
SPAM_PILLS = ["Cheap meds without prescription!", "Best prices on pills, discreet shipping worldwide.", "Lose weight fast with our miracle formula.",
              "Order now and get 80% off your first order.", "Viagra Cialis Levitra lowest prices guaranteed.", "No doctor visit needed."]
SPAM_MONEY = ["Get a loan today, no credit check required.", "Earn $5000 a week from home with this simple trick.",
              "Our crypto robot doubled investors' money in a month.", "Bitcoin investment with guaranteed daily returns!",
              "Limited time offer: act now before it is too late!", "You have been pre-approved for a $25,000 credit line.",
              "Click below to claim your exclusive bonus.", "Financial freedom is one click away."]
SPAM_419 = ["I am a barrister representing the estate of a late client who shares your surname.",
            "The sum of USD 14,500,000 is held in a security company awaiting a beneficiary.",
            "Kindly reply with your full name, telephone number and bank details.", "This transaction is 100% risk free and confidential.",
            "You will receive 40% of the total funds for your assistance.", "Please treat this matter with utmost urgency and secrecy."]
SPAM_PHISH = ["We detected unusual activity on your account.", "Your mailbox storage is full and will be suspended.",
              "Verify your account within 24 hours to avoid closure.", "Your parcel could not be delivered due to an unpaid customs fee.",
              "Please confirm your payment details to continue using our service.", "Log in below to restore full access."]
SPAM_LOTTERY = ["Congratulations! Your email address has won 1,000,000 EUR in our international draw.",
                "To claim your prize contact our claims agent with your winning number.", "You are our lucky winner this week!",
                "Winners must claim before the deadline or the prize is forfeited."]


def headers(frm, to, subject, domain, extra=(), drop=()):
    h = [("From", frm), ("To", to), ("Subject", subject), ("Date", date()), ("Message-ID", msgid(domain)), ("MIME-Version", "1.0")]
    h += list(extra)
    return [(k, v) for k, v in h if k not in drop]


def render(hdrs, body_headers, body):
    out = "".join(f"{k}: {v}\r\n" for k, v in hdrs)
    out += "".join(f"{k}: {v}\r\n" for k, v in body_headers)
    return out + "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")


def text(body):
    return [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "8bit")], body


def html(inner):
    return [("Content-Type", "text/html; charset=utf-8")], f"<html><body>{inner}</body></html>\n"


def multipart(parts):
    boundary = f"=_b{rng.getrandbits(48):x}"
    body = "This is a multi-part message in MIME format.\n"
    for ph, pb in parts:
        body += f"--{boundary}\n" + "".join(f"{k}: {v}\n" for k, v in ph) + "\n" + pb + "\n"
    body += f"--{boundary}--\n"
    return [("Content-Type", f'multipart/mixed; boundary="{boundary}"')], body


def attachment(filename, ctype, data):
    b64 = base64.encodebytes(data).decode()
    return [("Content-Type", f'{ctype}; name="{filename}"'), ("Content-Disposition", f'attachment; filename="{filename}"'), ("Content-Transfer-Encoding", "base64")], b64


def zipped(inner_name, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(inner_name, payload)
    return buf.getvalue()


def ham():
    kind = rng.random()
    me = name()
    to = f"{me} <{addr(me, OFFICE)}>"
    if kind < 0.45:  # a colleague or partner writing
        who = name()
        domain = rng.choice([OFFICE] + PARTNERS)
        subject = rng.choice(SUBJECTS_HAM).format(n=rng.randrange(1000, 99999), partner=domain.split(".")[0].title())
        body = f"Hi {me.split()[0]},\n\n{pick(WORK, rng.randrange(2, 6))}\n\n{pick(WORK, rng.randrange(1, 4))}\n\nBest regards,\n{who}\n"
        if subject.startswith("Re:"):
            body += f"\nOn {date()}, {me} wrote:\n> " + "\n> ".join(rng.sample(WORK, 3)) + "\n"
        bh, bb = text(body)
        if rng.random() < 0.25:
            pdf = b"%PDF-1.4\n" + os.urandom(rng.randrange(2000, 9000))
            bh, bb = multipart([text(body), attachment(f"invoice-{rng.randrange(100, 999)}.pdf", "application/pdf", pdf)])
        return render(headers(f"{who} <{addr(who, domain)}>", to, subject, domain), bh, bb)
    if kind < 0.75:  # newsletters and lists, often HTML only
        domain = rng.choice(LISTS)
        items = rng.sample(NEWS, rng.randrange(2, 5))
        links = "".join(f'<p>{t} <a href="https://{domain}/item/{rng.randrange(9999)}">Read more</a></p>' for t in items)
        bh, bb = html(f"<h1>News from {domain}</h1>{links}<p><a href=\"https://{domain}/unsubscribe?u={rng.getrandbits(32):x}\">Unsubscribe</a></p>")
        if rng.random() < 0.5:
            bh, bb = [("Content-Type", 'multipart/alternative; boundary="alt"')], "--alt\nContent-Type: text/plain\n\n" + "\n".join(items) + "\n--alt\n" + "".join(f"{k}: {v}\n" for k, v in bh) + "\n" + bb + "--alt--\n"
        extra = [("List-Id", f"<{domain}>"), ("List-Unsubscribe", f"<https://{domain}/unsubscribe>"), ("Precedence", "list")]
        return render(headers(f"{domain.split('.')[1].title()} News <news@{domain}>", to, f"{domain.split('.')[1].title()} update: {rng.choice(['November', 'December', 'this week'])}", domain, extra), bh, bb)
    # automated notices: monitoring, orders, calendars; some terse and shouting
    domain = rng.choice(PARTNERS + [OFFICE])
    subject = rng.choice(["ALERT: backup job failed on FILESERVER", "Your order has shipped", "Password will expire in 7 days",
                          "[ticket #%d] Status changed to resolved" % rng.randrange(10000), "Calendar: Budget review @ Tue 10:00", "DELIVERY NOTIFICATION"])
    body = f"This is an automated message.\n\n{rng.choice(['Job', 'Order', 'Ticket', 'Event'])} {rng.randrange(10**6)}: {rng.choice(['completed', 'failed', 'updated', 'scheduled'])}.\nDetails: https://{domain}/view/{rng.getrandbits(40):x}\n"
    drop = ("Message-ID",) if rng.random() < 0.2 else ()
    bh, bb = text(body)
    return render(headers(f"noreply@{domain}", to, subject, domain, drop=drop), bh, bb)


def spam():
    kind = rng.random()
    me = name()
    to = addr(me, OFFICE) if rng.random() < 0.5 else f"{me} <{addr(me, OFFICE)}>"
    domain = rng.choice(SPAM_DOMAINS)
    link = f"http://{rng.choice(['www.', ''])}{domain}/{rng.getrandbits(32):x}"
    drop = tuple(k for k in ("Date", "Message-ID") if rng.random() < 0.25)
    sender = f"{rng.choice(['Support', 'Admin', 'Pharmacy', 'Dr. ' + name(), name(), 'Security Team'])} <{rng.choice(['info', 'no-reply', 'support', 'offers'])}@{domain}>"
    if kind < 0.25:
        subject = rng.choice(["Cheap meds online", "RE: your prescription", "80% OFF TODAY ONLY", "Feel young again", "discreet pharmacy"])
        bh, bb = html(f"<p><b>{pick(SPAM_PILLS, 3)}</b></p><p><a href=\"{link}\">ORDER NOW</a></p>")
    elif kind < 0.45:
        subject = rng.choice(["Your loan is approved", "Make money from home", "Bitcoin opportunity", "FINANCIAL FREEDOM", "Re: investment"])
        bh, bb = text(f"Dear friend,\n\n{pick(SPAM_MONEY, 4)}\n\n{link}\n")
    elif kind < 0.6:
        subject = rng.choice(["URGENT BUSINESS PROPOSAL", "Confidential", "From the desk of Barrister " + name(), "Inheritance claim"])
        sender = f"Barrister {name()} <{rng.choice(['lawchambers', 'estate.claims', 'barrister'])}{rng.randrange(99)}@{rng.choice(['gmail.com', 'yahoo.com', 'outlook.com'])}>"
        bh, bb = text(f"Dear {rng.choice(['Friend', 'Sir/Madam', 'Beneficiary'])},\n\n{pick(SPAM_419, 5)}\n\nRegards,\n{name()}\n")
    elif kind < 0.8:
        brand = rng.choice(["Your Bank", "Mail Admin", "Parcel Service", "PayOnline", "Microsoft 365"])
        subject = rng.choice([f"{brand}: action required", "Account suspended", "Verify your account", "Your parcel is on hold", "Payment failed"])
        bh, bb = html(f"<p>Dear customer,</p><p>{pick(SPAM_PHISH, 3)}</p><p><a href=\"{link}\">Verify now</a></p><p>{brand}</p>")
        sender = f"{brand} <security@{domain}>"
    elif kind < 0.9:
        subject = rng.choice(["YOU HAVE WON!!!", "Congratulations winner", "Prize notification", "Claim your reward"])
        bh, bb = text(f"{pick(SPAM_LOTTERY, 3)}\n\nWinning number: {rng.randrange(10**8)}\n")
    else:
        subject = rng.choice(["Invoice overdue", "Your invoice", "Payment reminder", "Document for you"])
        n = rng.randrange(10000, 99999)
        exe = b"MZ" + os.urandom(rng.randrange(3000, 8000))
        bh, bb = multipart([text(f"Hello,\n\nPlease see the attached invoice {n} and pay today.\n"), attachment(f"invoice_{n}.zip", "application/zip", zipped(f"invoice_{n}.pdf.exe", exe))])
    return render(headers(sender, to, subject, domain, drop=drop), bh, bb)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    for label, make in (("ham", ham), ("spam", spam)):
        os.makedirs(os.path.join(out, label), exist_ok=True)
        for i in range(count):
            with open(os.path.join(out, label, f"{i:04d}.eml"), "w", newline="") as f:
                f.write(make())


if __name__ == "__main__":
    main()
