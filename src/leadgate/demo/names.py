"""The vocabularies synthetic leads are drawn from, weighted as a typical EU/US SaaS CRM:
countries, industries, company name stems, universities, first and last names by locale,
job titles by seniority, free-mail providers, lead sources and campaign names.

Example: `COUNTRIES.pick(0.2)` is "US" (a third of the weight), and
`campaign("webinar", rng, "2026-02-17")` is "webinar-2026-02".
"""

from __future__ import annotations

import random

from leadgate.demo.base import Table, ascii_fold, words

COUNTRIES = Table(
    [
        ("US", 34), ("GB", 11), ("DE", 9), ("IN", 7), ("FR", 6), ("NL", 4.5), ("IT", 4.5),
        ("ES", 4), ("BR", 4), ("DK", 3.5), ("CA", 3), ("AU", 2.5), ("SE", 2), ("IE", 1.5),
        ("CH", 1.5), ("PL", 1.5), ("SG", 1),
    ]
)  # fmt: skip
TLD = {
    "US": ".com", "GB": ".co.uk", "DE": ".de", "IN": ".in", "FR": ".fr", "NL": ".nl",
    "IT": ".it", "ES": ".es", "BR": ".com.br", "DK": ".dk", "CA": ".ca", "AU": ".com.au",
    "SE": ".se", "IE": ".ie", "CH": ".ch", "PL": ".pl", "SG": ".sg",
}  # fmt: skip
CORE_COUNTRIES = frozenset({"US", "GB", "DE", "FR", "IT", "DK", "NL", "SE", "ES"})

INDUSTRIES = Table(
    [
        ("Software", 22), ("Financial Services", 12), ("Professional Services", 11),
        ("Manufacturing", 10), ("Healthcare", 8), ("Retail & E-commerce", 8),
        ("Media & Marketing", 7), ("Education", 5), ("Telecommunications", 4),
        ("Logistics", 4), ("Energy", 3), ("Government", 3), ("Non-profit", 3),
    ]
)  # fmt: skip
CORE_INDUSTRIES = frozenset(
    {"Software", "Financial Services", "Professional Services", "Media & Marketing"}
)
INDUSTRY_SUFFIX = {
    "Software": ["Software", "Labs", "Technologies", "Systems", "AI"],
    "Financial Services": ["Capital", "Financial", "Payments", "Insurance", "Bank"],
    "Professional Services": ["Consulting", "Partners", "Advisory", "Group"],
    "Manufacturing": ["Industries", "Manufacturing", "Components", "Works"],
    "Healthcare": ["Health", "Medical", "Care", "Diagnostics"],
    "Retail & E-commerce": ["Retail", "Commerce", "Stores", "Brands"],
    "Media & Marketing": ["Media", "Studios", "Agency", "Digital"],
    "Education": ["Learning", "Academy", "Education"],
    "Telecommunications": ["Telecom", "Networks", "Communications"],
    "Logistics": ["Logistics", "Freight", "Shipping"],
    "Energy": ["Energy", "Power", "Renewables"],
    "Government": ["Agency", "Authority", "Services"],
    "Non-profit": ["Foundation", "Trust", "Initiative"],
}
STEM_A = words(
    "Nord Blue Bright Silver Iron Oak Swift Clear True Red North Stone Sun Cloud Data Lumen "
    "Vela Terra Aqua Quant Vertex Nimbus Orbit Pixel Helix Cobalt Ember Falcon Granite Harbor "
    "Indigo Juniper Kite Lark Maple Nova Opal Pine Quartz Raven Sage Tide Umber Vivid Willow "
    "Zephyr Alto Birch Cedar Delta"
)
STEM_B = words(
    "wave field point bridge works stack gate line path forge leaf peak light mark shift loop "
    "core sphere scale craft hub link mind ware yard port ridge spring vale wing"
)
STEM_C = ["", "ia", "io", "ix", "ly", "on", "ar", "el", "um", "era"]
STEMS = len(STEM_A) * len(STEM_B) * len(STEM_C)

UNIVERSITIES = [
    ("Technical University of Munich", "tum.de", "DE", 50000),
    ("University of Copenhagen", "ku.dk", "DK", 37000),
    ("Politecnico di Milano", "polimi.it", "IT", 47000),
    ("University of Manchester", "manchester.ac.uk", "GB", 46000),
    ("Sorbonne Université", "sorbonne-universite.fr", "FR", 55000),
    ("Delft University of Technology", "tudelft.nl", "NL", 27000),
    ("Universidad Complutense de Madrid", "ucm.es", "ES", 60000),
    ("University of Texas at Austin", "utexas.edu", "US", 52000),
    ("Arizona State University", "asu.edu", "US", 80000),
    ("Indian Institute of Technology Bombay", "iitb.ac.in", "IN", 13000),
    ("Universidade de São Paulo", "usp.br", "BR", 90000),
    ("University of Toronto", "utoronto.ca", "CA", 97000),
]

# Names by locale, so a Danish account is staffed mostly by Danish names.
NAMES: dict[str, tuple[list[str], list[str]]] = {
    "en": (
        words(
            "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Sarah "
            "Emily Daniel Jessica Thomas Olivia Matthew Emma Andrew Sophie Ryan Chloe Kevin"
        ),
        words(
            "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Clark Walker Wright "
            "Hughes Evans Roberts Turner Cooper Murphy O'Brien Kelly Bennett Foster Hayes Price"
        ),
    ),
    "de": (
        words(
            "Lukas Anna Jonas Lea Felix Hannah Maximilian Laura Paul Julia Leon Katharina Jürgen "
            "Sabine Tobias Miriam Stefan Claudia Matthias Anja"
        ),
        words(
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
            "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger"
        ),
    ),
    "fr": (
        words(
            "Louis Camille Hugo Léa Lucas Manon Jules Chloé Gabriel Inès Arthur Élodie Antoine "
            "Juliette Nicolas Margaux Théo Pauline"
        ),
        words(
            "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
            "Lefèvre Michel Garcia Fournier Girard Rousseau"
        ),
    ),
    "it": (
        words(
            "Giulia Marco Francesca Luca Chiara Alessandro Sara Matteo Valentina Lorenzo Federica "
            "Andrea Martina Davide Elisa Simone Giorgia Niccolò"
        ),
        words(
            "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
            "Conti De_Luca Mancini Costa Giordano Rizzo Lombardi"
        ),
    ),
    "nordic": (
        words(
            "Mads Sofie Frederik Ida Mikkel Freja Søren Anne Rasmus Mette Emil Astrid Jesper Line "
            "Anders Karin Erik Ingrid Lars Maja"
        ),
        words(
            "Nielsen Jensen Hansen Pedersen Andersen Christensen Larsen Sørensen Rasmussen "
            "Jørgensen Madsen Kristensen Olsen Thomsen Johansson Lindqvist Berg Holm"
        ),
    ),
    "nl": (
        words(
            "Daan Emma Sem Julia Lars Sanne Bram Fleur Thijs Lotte Ruben Anouk Jeroen Marieke "
            "Pieter Femke"
        ),
        words(
            "de_Jong Jansen de_Vries van_den_Berg van_Dijk Bakker Visser Smit Meijer de_Boer "
            "Mulder Bos Vos Peters Hendriks Dekker"
        ),
    ),
    "es": (
        words(
            "Lucía Hugo Martina Pablo María Alejandro Paula Daniel Carmen Javier Elena Sergio "
            "Laura Diego Marta Álvaro"
        ),
        words(
            "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín "
            "Jiménez Ruiz Hernández Díaz Moreno Muñoz"
        ),
    ),
    "in": (
        words(
            "Aarav Ananya Vivaan Diya Arjun Priya Rohan Isha Aditya Kavya Rahul Neha Vikram Pooja "
            "Sanjay Meera Karthik Lakshmi"
        ),
        words(
            "Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Rao Mehta Joshi Shah Desai Menon "
            "Chatterjee Banerjee Pillai Verma"
        ),
    ),
    "pt": (
        words(
            "João Maria Pedro Ana Lucas Beatriz Gabriel Juliana Rafael Larissa Thiago Camila "
            "Matheus Fernanda Bruno Letícia"
        ),
        words(
            "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa "
            "Ribeiro Martins Carvalho Almeida Araújo"
        ),
    ),
    "pl": (
        words(
            "Jakub Zofia Kacper Julia Szymon Maja Michał Zuzanna Piotr Katarzyna Tomasz Agnieszka"
        ),
        words(
            "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński "
            "Szymański Woźniak"
        ),
    ),
}
LOCALE = {
    "US": "en", "GB": "en", "CA": "en", "AU": "en", "IE": "en", "SG": "en", "DE": "de",
    "CH": "de", "FR": "fr", "IT": "it", "DK": "nordic", "SE": "nordic", "NL": "nl",
    "ES": "es", "IN": "in", "BR": "pt", "PL": "pl",
}  # fmt: skip
LOCALES = sorted(NAMES)
FOLDED = {n: ascii_fold(n) for pair in NAMES.values() for names in pair for n in names}

# Seniority class: (weight, hidden fit points, titles).
TITLES: dict[str, tuple[float, float, list[str]]] = {
    "chief": (3, 3.0, [
        "Chief Marketing Officer", "Chief Technology Officer", "Chief Revenue Officer",
        "Chief Executive Officer", "Chief Operating Officer", "CEO", "CTO", "CMO",
    ]),
    "vp": (5, 3.0, [
        "VP of Marketing", "VP Sales", "Vice President, Engineering", "VP Revenue Operations",
        "SVP Growth", "VP Product",
    ]),
    "head": (6, 2.5, [
        "Head of Growth", "Head of Marketing Operations", "Head of Data", "Head of Sales",
        "Head of Demand Generation", "Head of IT",
    ]),
    "director": (10, 2.0, [
        "Director of Demand Generation", "Marketing Director", "Sales Director", "IT Director",
        "Director, Revenue Operations", "Director of Engineering", "Director of Customer Success",
    ]),
    "manager": (24, 1.0, [
        "Marketing Manager", "Product Manager", "Engineering Manager", "Sales Manager",
        "Marketing Operations Manager", "Account Manager", "Project Manager",
        "Demand Generation Manager", "CRM Manager",
    ]),
    "ic": (33, 0.3, [
        "Software Engineer", "Senior Software Engineer", "Data Analyst", "Marketing Specialist",
        "Sales Development Representative", "Business Analyst", "Data Engineer", "Designer",
        "Developer", "Marketing Coordinator", "Content Writer", "Solutions Architect",
    ]),
    "other": (6, 0.5, ["Founder", "Co-founder", "Owner", "Consultant", "Freelancer"]),
    "student": (5, -2.5, ["Student", "MBA Student", "PhD Student"]),
    "intern": (3, -2.5, ["Intern", "Marketing Intern", "Software Engineering Intern"]),
}  # fmt: skip
TITLE_CLASS = Table([(k, v[0]) for k, v in TITLES.items()])

FREE_MAIL = Table([("gmail.com", 60), ("yahoo.com", 11), ("hotmail.com", 11), ("outlook.com", 10)])
FREE_MAIL_LOCAL = {
    "DE": ("gmx.de", 0.25),
    "IT": ("libero.it", 0.2),
    "FR": ("orange.fr", 0.15),
    "GB": ("hotmail.co.uk", 0.15),
}

SOURCES = Table(
    [
        ("organic", 28), ("paid_search", 17), ("linkedin", 12), ("webinar", 8), ("event", 7),
        ("content_syndication", 6), ("referral", 6), ("partner", 5), ("email", 4),
        ("direct", 4),
    ]
)  # fmt: skip
# Intent bonus by source: warm introductions buy, gated-content downloads mostly read.
SOURCE_BONUS = {
    "referral": 0.7, "partner": 0.4, "webinar": 0.3, "event": 0.2, "direct": 0.2,
    "paid_search": 0.1, "organic": 0.0, "email": 0.0, "linkedin": -0.1,
    "content_syndication": -0.5,
}  # fmt: skip
ASSETS = [
    "state-of-lead-scoring-2026",
    "mql-to-sql-playbook",
    "bant-vs-meddic",
    "b2b-funnel-benchmarks",
    "marketing-ops-salary-guide",
    "intent-data-buyers-guide",
]
EVENTS_NAMED = ["web-summit", "saastr-europa", "dmexco", "inbound", "mwc"]
PARTNERS = ["hubspot-marketplace", "salesforce-appexchange", "agency-network"]


def campaign(source: str, rng: random.Random, date: str) -> str | None:
    """A campaign name in the naming conventions of the channel; date is 'YYYY-MM-DD'."""
    year, month = date[:4], date[5:7]
    quarter = f"{year}q{(int(month) - 1) // 3 + 1}"
    if source == "paid_search":
        return f"gads-{('brand', 'generic', 'generic', 'competitor')[rng.randrange(4)]}-{quarter}"
    if source == "linkedin":
        theme = ("abm", "lead-gen-form", "thought-leadership")[rng.randrange(3)]
        return f"li-{theme}-{quarter}"
    if source == "webinar":
        return f"webinar-{year}-{month}"
    if source == "event":
        return f"event-{EVENTS_NAMED[rng.randrange(len(EVENTS_NAMED))]}-{year}"
    if source == "partner":
        return f"partner-{PARTNERS[rng.randrange(len(PARTNERS))]}"
    if source == "content_syndication":
        return f"synd-{ASSETS[rng.randrange(len(ASSETS))]}"
    if source == "email":
        return f"nl-{year}-{month}"
    return None
