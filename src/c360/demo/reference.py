"""The fixed vocabulary of the demo retailer: Dutch names, cities, stores, products, campaigns.

A fictional fashion chain, "Noordkust", with shops across the Netherlands and a web shop at
www.noordkust.nl. Lists, not rows: the generator picks from them with numpy, never per row.
"""

from __future__ import annotations

RETAILER = "Noordkust"
WEB_HOST = "www.noordkust.nl"
COUNTRY = "Netherlands"
COUNTRY_CODE = "NL"

FEMALE_FIRST_NAMES = (
    "Emma", "Julia", "Sophie", "Tess", "Zoë", "Anna", "Sara", "Eva", "Lotte", "Fenna",
    "Mila", "Saar", "Lisa", "Noor", "Evi", "Nina", "Fleur", "Sanne", "Lieke", "Iris",
    "Anouk", "Femke", "Marloes", "Inge", "Linda", "Monique", "Ingrid", "Petra", "Wendy",
    "Esther", "Marieke", "Ilse", "Annemieke", "Daniëlle", "Yvonne", "Chantal", "Kim", "Naomi",
    "Yasmina", "Fatima", "Aylin", "Priya", "Maria", "Els", "Joke", "Ria", "Wilma", "Anja",
    "Karin", "Romy",
)  # fmt: skip
MALE_FIRST_NAMES = (
    "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Noah", "Jesse", "Bram", "Luuk",
    "Thijs", "Ruben", "Lars", "Tim", "Thomas", "Jeroen", "Mark", "Dennis", "Bas", "Sander",
    "Martijn", "Niels", "Joost", "Pieter", "Jan", "Kees", "Henk", "Gerrit", "Willem", "Hans",
    "Peter", "Erik", "Rob", "Frank", "Marco", "Stefan", "Mohamed", "Youssef", "Ahmed",
    "Mehmet", "Rik", "Joris", "Koen", "Wouter", "Stijn", "Tom", "Hugo", "Jasper", "Vincent",
    "Maarten",
)  # fmt: skip
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
    "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
    "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf",
    "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan", "Vermeulen",
    "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Bruin",
    "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "van de Ven",
    "Hoekstra", "Maas", "Verhoeven", "Koster", "van Dam", "van der Wal", "Prins", "Blom",
    "Huisman", "Peeters", "de Jonge", "Kuipers", "van Veen", "Post", "Kuiper", "Veenstra",
    "Kramer", "van den Brink", "Scholten", "van Wijk", "Postma", "Martens", "Vink",
    "de Ridder", "van Loon", "Yilmaz", "El Amrani", "Kaya", "Bouali", "Nguyen", "Pinas",
    "Sedney", "Öztürk", "Claes",
)  # fmt: skip

# city, weight (roughly its population), postal code prefix range, area code (without 0)
CITIES = (
    ("Amsterdam", 92, (1011, 1109), "20"),
    ("Rotterdam", 66, (3011, 3089), "10"),
    ("Den Haag", 56, (2491, 2597), "70"),
    ("Utrecht", 37, (3511, 3585), "30"),
    ("Eindhoven", 24, (5611, 5658), "40"),
    ("Groningen", 24, (9711, 9747), "50"),
    ("Tilburg", 23, (5011, 5049), "13"),
    ("Almere", 22, (1311, 1364), "36"),
    ("Breda", 19, (4811, 4839), "76"),
    ("Nijmegen", 18, (6511, 6546), "24"),
    ("Apeldoorn", 17, (7311, 7339), "55"),
    ("Haarlem", 16, (2011, 2037), "23"),
    ("Arnhem", 16, (6811, 6846), "26"),
    ("Enschede", 16, (7511, 7548), "53"),
    ("Amersfoort", 16, (3811, 3829), "33"),
    ("Zwolle", 13, (8011, 8048), "38"),
    ("Leiden", 13, (2311, 2334), "71"),
    ("Maastricht", 12, (6211, 6229), "43"),
    ("'s-Hertogenbosch", 16, (5211, 5237), "73"),
    ("Delft", 10, (2611, 2629), "15"),
    ("Alkmaar", 11, (1811, 1829), "72"),
    ("Leeuwarden", 12, (8911, 8939), "58"),
)
STREETS = (
    "Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Julianastraat",
    "Beatrixlaan", "Wilhelminastraat", "Nieuwstraat", "Marktstraat", "Hoofdstraat",
    "Parkweg", "Lindelaan", "Eikenlaan", "Prinses Irenestraat", "Oranjestraat",
    "Spoorstraat", "Van Goghstraat", "Rembrandtlaan", "Vondelstraat", "Mozartlaan",
    "Zuiderweg", "Noorderweg", "Kastanjelaan", "Berkenlaan", "Tulpstraat", "Rozenstraat",
    "Sportlaan", "Havenstraat", "Prins Hendrikkade", "Burgemeester de Withstraat",
    "Thorbeckestraat", "Emmalaan", "Merelstraat", "Vinkenstraat",
)  # fmt: skip
# Letters of a Dutch postal code; SA, SD and SS are never issued.
POSTAL_LETTERS = "ABCEGHJKLMNPRTVWXZ"

# store name, its city (an index into CITIES), weight
STORES = (
    ("Amsterdam Kalverstraat", 0, 10),
    ("Amsterdam Zuidas", 0, 5),
    ("Rotterdam Lijnbaan", 1, 8),
    ("Den Haag Grote Marktstraat", 2, 7),
    ("Utrecht Hoog Catharijne", 3, 7),
    ("Eindhoven Demer", 4, 4),
    ("Groningen Herestraat", 5, 4),
    ("Tilburg Heuvelstraat", 6, 3),
    ("Breda Ginnekenstraat", 8, 3),
    ("Nijmegen Broerstraat", 9, 3),
    ("Haarlem Grote Houtstraat", 11, 4),
    ("Arnhem Ketelstraat", 12, 3),
    ("Maastricht Grote Staat", 17, 3),
    ("Zwolle Diezerstraat", 15, 2),
)

EMAIL_DOMAINS = (
    ("gmail.com", 34), ("hotmail.com", 18), ("outlook.com", 10), ("ziggo.nl", 9),
    ("kpnmail.nl", 7), ("live.nl", 6), ("icloud.com", 6), ("xs4all.nl", 3),
    ("planet.nl", 3), ("hetnet.nl", 2), ("yahoo.com", 2),
)  # fmt: skip

# -- products -------------------------------------------------------------------------------
BRANDS = (
    "Noordkust", "Polderwear", "Amstel & Co", "Zeeland Denim", "Vanlier", "Grachtengoed",
    "Duinvolk", "Kade 21", "Windkracht", "Tulp Studio", "Lage Landen", "Hollands Glorie",
)  # fmt: skip
COLOURS = (
    "Black", "White", "Navy", "Indigo", "Olive", "Camel", "Grey", "Beige", "Burgundy",
    "Sage Green", "Sky Blue", "Ecru", "Rust", "Charcoal",
)  # fmt: skip
# category, item names, price range in euros, genders it is made for
CATEGORIES = (
    ("Jeans", ("Slim Fit Jeans", "Straight Jeans", "Mom Jeans", "Wide Leg Jeans",
               "Skinny Jeans"), (49, 119), ("women", "men")),
    ("T-shirts", ("Basic T-shirt", "Oversized T-shirt", "Graphic T-shirt", "Polo"),
     (14, 39), ("women", "men", "unisex", "kids")),
    ("Dresses", ("Midi Dress", "Maxi Dress", "Wrap Dress", "Shirt Dress"), (39, 129),
     ("women", "kids")),
    ("Jackets", ("Puffer Jacket", "Trench Coat", "Denim Jacket", "Wool Coat", "Rain Jacket"),
     (79, 249), ("women", "men", "unisex", "kids")),
    ("Knitwear", ("Cable Knit Sweater", "Cardigan", "Hoodie", "Turtleneck"), (39, 99),
     ("women", "men", "unisex")),
    ("Shoes", ("Leather Sneakers", "Chelsea Boots", "Loafers", "Running Shoes", "Sandals"),
     (59, 159), ("women", "men", "kids")),
    ("Shirts", ("Oxford Shirt", "Linen Shirt", "Flannel Shirt", "Blouse"), (34, 79),
     ("women", "men")),
    ("Trousers", ("Chinos", "Cargo Trousers", "Linen Trousers", "Joggers"), (39, 99),
     ("women", "men", "kids")),
    ("Accessories", ("Leather Belt", "Wool Scarf", "Beanie", "Cap", "Tote Bag",
                     "Sunglasses"), (14, 69), ("women", "men", "unisex")),
)  # fmt: skip
SEASONS = ("SS24", "AW24", "SS25", "Basics")

# -- web logs -------------------------------------------------------------------------------
# device category, operating system, browser, weight
DEVICES = (
    ("desktop", "Windows", "Chrome", 18),
    ("desktop", "Windows", "Edge", 7),
    ("desktop", "macOS", "Safari", 8),
    ("desktop", "macOS", "Chrome", 5),
    ("mobile", "iOS", "Safari", 26),
    ("mobile", "Android", "Chrome", 22),
    ("mobile", "Android", "Samsung Internet", 5),
    ("tablet", "iPadOS", "Safari", 7),
    ("tablet", "Android", "Chrome", 2),
)
TRAFFIC_SOURCES = (
    ("google", 38), ("direct", 25), ("newsletter", 12), ("instagram", 9), ("facebook", 5),
    ("tiktok", 4), ("bing", 3), ("pinterest", 2), ("kieskeurig.nl", 2),
)  # fmt: skip
# path, title
LANDING_PAGES = (
    ("/", "Noordkust | Fashion for everyone"),
    ("/dames", "Women | Noordkust"),
    ("/heren", "Men | Noordkust"),
    ("/kinderen", "Kids | Noordkust"),
    ("/sale", "Sale | Noordkust"),
    ("/nieuw", "New in | Noordkust"),
)
CATEGORY_PAGES = tuple(
    (f"/{section}/{category.lower()}", f"{category} for {label} | Noordkust")
    for section, label in (("dames", "women"), ("heren", "men"))
    for category, *_ in CATEGORIES
)
SEARCH_TERMS = (
    "zwarte jurk", "jeans", "witte sneakers", "winterjas", "linnen broek", "trui",
    "regenjas", "chino", "blouse", "sjaal", "mom jeans", "hoodie", "sandalen", "colbert",
    "t-shirt wit", "chelsea boots", "cadeaubon", "retour", "maxi dress", "pet",
)  # fmt: skip
# page, error message
ERRORS = (
    ("/afrekenen/betaling", "Payment provider did not respond in time (timeout after 30 s)"),
    ("/afrekenen/betaling", "iDEAL payment cancelled by the bank"),
    ("/afrekenen/adres", "Address lookup failed: postal code not found"),
    ("/afrekenen", "Voucher code is not valid or has expired"),
    ("/winkelwagen", "Product is out of stock in the selected size"),
    ("/account/bestellingen", "500 Internal Server Error"),
    ("/login", "Too many login attempts; try again in 5 minutes"),
    ("/zoeken", "Search service unavailable (503)"),
)
LOGIN_PAGE = "/login_success.html"

# -- marketing e-mails ------------------------------------------------------------------------
# campaign id, name, subject, send date (UTC, ISO)
CAMPAIGNS = (
    ("cmp-2023-09-aw", "Autumn/Winter collection 2023", "The new season is here",
     "2023-09-07T08:00:00"),
    ("cmp-2023-11-bf", "Black Friday 2023", "Black Friday: up to 50% off",
     "2023-11-24T06:30:00"),
    ("cmp-2023-12-gift", "Gift guide 2023", "Gifts for everyone on your list",
     "2023-12-04T09:00:00"),
    ("cmp-2024-01-sale", "Winter sale 2024", "Final reductions: extra 20% off sale",
     "2024-01-08T08:00:00"),
    ("cmp-2024-03-ss", "Spring/Summer collection 2024", "Spring has arrived at Noordkust",
     "2024-03-14T08:00:00"),
    ("cmp-2024-05-denim", "Denim week 2024", "Find your perfect fit", "2024-05-16T08:00:00"),
    ("cmp-2024-07-sale", "Summer sale 2024", "Summer sale starts now", "2024-07-01T06:30:00"),
    ("cmp-2024-09-aw", "Autumn/Winter collection 2024", "Layer up: the AW24 collection",
     "2024-09-05T08:00:00"),
    ("cmp-2024-11-bf", "Black Friday 2024", "Black Friday: up to 50% off",
     "2024-11-29T06:30:00"),
    ("cmp-2025-01-sale", "Winter sale 2025", "Winter sale: last sizes", "2025-01-06T08:00:00"),
    ("cmp-2025-03-ss", "Spring/Summer collection 2025", "Meet SS25", "2025-03-13T08:00:00"),
    ("cmp-2025-06-summer", "Summer essentials 2025", "Everything for the summer",
     "2025-06-12T08:00:00"),
)  # fmt: skip

# -- support calls ----------------------------------------------------------------------------
AGENTS = (
    "Sanne Bakker", "Mohamed El Idrissi", "Lotte Visser", "Jeroen Smit", "Fatma Yildiz",
    "Kevin de Graaf", "Iris Mulder", "Rachid Bennani", "Marieke Kok", "Tom Hendriks",
)  # fmt: skip
# reason, weight, outcomes with weights
CALL_REASONS = (
    ("Where is my order", 30, (("resolved", 70), ("escalated to carrier", 20),
                                ("callback scheduled", 10))),
    ("Return or exchange", 22, (("return label sent", 60), ("exchange arranged", 30),
                                 ("resolved", 10))),
    ("Refund not received", 12, (("refund confirmed", 55), ("escalated to finance", 35),
                                  ("callback scheduled", 10))),
    ("Payment problem", 9, (("resolved", 60), ("escalated to payments", 40))),
    ("Product question", 10, (("resolved", 85), ("callback scheduled", 15))),
    ("Complaint about quality", 7, (("voucher issued", 45), ("replacement sent", 35),
                                     ("escalated to quality", 20))),
    ("Account or login", 6, (("password reset", 70), ("resolved", 30))),
    ("Loyalty points", 4, (("points corrected", 60), ("resolved", 40))),
)  # fmt: skip
