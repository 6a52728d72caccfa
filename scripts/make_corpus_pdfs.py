#!/usr/bin/env python3
"""Build the PDF documents of the bundled corpus (corpus/*.pdf).

The text of every PDF lives inline in this script, so that it is not indexed
twice (the corpus/ directory holds only the finished documents). Each page is
written explicitly with ``add_page`` so that a given fact lands on a known
page; the script fails if a page overflows onto an extra page.

Usage (from the repository root)::

    .venv/bin/python scripts/make_corpus_pdfs.py [--out corpus]

Requires fpdf2. Uses the core font Helvetica with the Windows-1252 encoding
(covers å ä ö é ç and the en dash), so no font files are needed.
"""

from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# A block is either a paragraph (str), a bullet list (list[str]) or a
# sub-heading (tuple ("h", text)).
Block = str | list[str] | tuple[str, str]


@dataclass
class Page:
    heading: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    filename: str
    title: str
    subtitle: str
    author: str
    pages: list[Page]


# ---------------------------------------------------------------------------
# programbeskrivning.pdf (5 pages)
# ---------------------------------------------------------------------------

PROGRAMBESKRIVNING = Document(
    filename="programbeskrivning.pdf",
    title="Kommunala partnerskap – programbeskrivning",
    subtitle=(
        "En introduktion till ICLD:s program för demokratisamarbete mellan svenska "
        "kommuner, regioner och kommunalförbund och lokala förvaltningar i andra länder."
    ),
    author="Kunskapsbanken om kommunala partnerskap",
    pages=[
        Page(
            heading="1. Programmet och dess syfte",
            blocks=[
                "Kommunala partnerskap är ett program där en svensk kommun, region eller ett "
                "regionalt kommunalförbund går samman med en lokal eller regional förvaltning i "
                "ett av programmets samarbetsländer. Tillsammans arbetar parterna med att "
                "utveckla demokratin på lokal nivå. Samarbetet bygger på ömsesidighet: båda "
                "sidor jämför hur de hanterar likartade problem, lär av varandra som kollegor och "
                "prövar nya arbetssätt som ger invånarna större insyn i och mer inflytande över "
                "de beslut som fattas.",
                ("h", "Övergripande mål"),
                "Programmet ska främja demokrati och delaktighetsprocesser på lokal och regional "
                "nivå. Den lokala demokratin ska också institutionaliseras, det vill "
                "säga byggas in i de ordinarie strukturerna. Ytterst handlar det om att invånarna "
                "ska få bättre förutsättningar att utöva sina rättigheter.",
                ("h", "De fyra demokratiska kärnområdena"),
                "Varje partnerskap ska stärka de politiskt styrda organisationerna inom minst "
                "ett av följande kärnområden:",
                [
                    "jämlik, rättvis och inkluderande behandling",
                    "deltagande och delaktighet",
                    "transparens och insyn",
                    "möjlighet att utkräva ansvar",
                ],
                "Förtroendevalda och tjänstepersoner som deltar ses som förändringsaktörer i sina "
                "egna organisationer. När mer demokratiska arbetssätt formaliseras i "
                "organisationen väntas det märkas för invånarna, till exempel genom bättre "
                "tillgång till rättigheter och bättre villkor för utsatta grupper. Vilken del av "
                "det kommunala eller regionala uppdraget som helst kan bli föremål för ett "
                "partnerskap; exempel på teman är klimat, hälso- och sjukvård, integration och "
                "medborgardialog.",
                ("h", "Agenda 2030 och svensk politik"),
                "Programmet ryms inom PGU, Sveriges politik för global utveckling, och tar sin "
                "utgångspunkt i FN:s Agenda 2030. För många kommuner blir partnerskapet därför "
                "också ett praktiskt sätt att arbeta med de globala målen.",
                ("h", "Vem står bakom programmet?"),
                "Pengarna kommer från Sida, och samarbetsformen är helt finansierad med statliga "
                "medel. Sedan 2009 administreras programmet av Internationellt Centrum för Lokal "
                "Demokrati (ICLD). ICLD är en ideell förening med Sveriges Kommuner och Regioner "
                "(SKR, tidigare SKL) som huvudman, och även föreningen själv finansieras av Sida. "
                "ICLD arbetar med tre verksamhetsgrenar: Kommunala partnerskap (KP), "
                "internationella utbildningsprogram (ITP) och ett kunskapscentrum (KC) för "
                "forskning om lokal demokrati.",
            ],
        ),
        Page(
            heading="2. Vem kan söka, och vad kostar det?",
            blocks=[
                ("h", "Behöriga svenska sökande"),
                "Det är svenska kommuner, landsting och regioner samt regionala "
                "kommunalförbund som kan ansöka om ett kommunalt partnerskap. I riktlinjerna, "
                "beslutade den 26 februari 2020, finns en mer detaljerad uppräkning av vilka "
                "svenska aktörer som får delta:",
                [
                    "primärkommuner",
                    "kommundelsnämnder och stadsdelsnämnder",
                    "regionförbund och kommunalförbund",
                    "gemensamma nämnder",
                    "regioner",
                    "kommunala samverkansorganisationer, till exempel kommunförbund",
                ],
                "På ICLD:s programsida har det dessutom angetts att kommunala bolag samt "
                "föreningar som ägs eller styrs av en kommun kan ansöka.",
                ("h", "Krav på den internationella partnern"),
                "Den internationella parten ska vara en lokal eller regional förvaltning i något "
                "av de länder som programmet listar som samarbetsländer (se avsnitt 5). Ett "
                "partnerskap med en förvaltning i ett land som inte finns på listan kan alltså "
                "inte beviljas medel inom programmet.",
                ("h", "Kostnader för den svenska parten"),
                "Att delta kostar ingenting för de svenska aktörerna. Samarbetsformen bekostas "
                "i sin helhet av statliga medel via Sida. Som exempel uppger Arvika kommun att "
                "kommunen får full ersättning för löne- och resekostnader och för eventuella "
                "externa insatser inom sitt partnerskap.",
                ("h", "Hur många deltar?"),
                "Enligt ICLD deltog ett femtiotal svenska kommuner och regioner i ett kommunalt "
                "partnerskap vid tiden för beslutet i juni 2020. I januari 2018 angavs antalet "
                "till fler än 55 svenska kommuner, landsting och regioner.",
                ("h", "Att hitta en partner"),
                "Enligt programmets frågor och svar matchar ICLD i dagsläget inte ihop partner, "
                "utan den svenska parten behöver själv hitta någon att söka tillsammans med. "
                "ICLD publicerar dock en förteckning över utländska kommuner som söker en svensk "
                "partner, och den som aldrig har deltagit kan vända sig till ICLD för råd. Inom "
                "de tematiska nätverken har ICLD däremot i flera fall parat ihop kommunerna.",
            ],
        ),
        Page(
            heading="3. Förberedelse och projekt – programmets faser",
            blocks=[
                ("h", "Steg 1: Förberedelse"),
                "Ett partnerskap börjar med en förberedelse. Ansökan om förberedelse tas emot "
                "löpande, och förberedelsen pågår i regel ett år, räknat från att ansökan "
                "beviljats eller avtalet skrivits under. Medlen räcker till två möten, det ena i "
                "Sverige och det andra i partnerlandet, med ungefär fyra deltagare från varje "
                "part.",
                "Under förberedelsen ska parterna:",
                [
                    "förankra samarbetet i båda organisationerna",
                    "sätta samman en styrgrupp",
                    "lära känna varandras förutsättningar och ringa in gemensamma utmaningar",
                    "involvera målgruppen i planeringen",
                    "planera ett gemensamt projekt med mål som gäller de egna organisationerna",
                ],
                "Förberedelsen avslutas när ansökningarna för projekt och styrgrupp är färdiga. "
                "ICLD:s verktyg för projektplanering är obligatoriskt i denna fas.",
                "Varje part bemannar förberedelsen med två förtroendevalda – gärna en från "
                "styrande majoritet och en från oppositionen – samt en eller två tjänstepersoner. "
                "En av tjänstepersonerna är samordnare och ICLD:s huvudsakliga kontakt. Även "
                "organisationer från civilsamhället kan ingå.",
                ("h", "Steg 2: Projekt"),
                "Därefter följer själva projektet, som varar i ett till tre år. Projektmålen ska "
                "gälla organisationernas egen kapacitet, med effekter i samhället som knyter an "
                "till de fyra kärnområdena. Under projekttiden reser parterna regelbundet till "
                "varandra. Varje sida ställer upp med tre till fem tjänstepersoner i den "
                "projektgrupp som sköter det löpande arbetet.",
                ("h", "Andra ansökningstyper"),
                "Riktlinjerna beskriver också ansökningar för styrgrupp, trepartssamarbete där "
                "ett EU-land ingår, samarbeten med flera parter, utveckling eller breddning av ett "
                "partnerskap samt spridning. Spridningsinsatser innebär att ett partnerskap för "
                "sina resultat vidare till andra kommuner; år 2020 gjorde ICLD en särskild "
                "satsning på detta, med partnerskapet Robertsfors–Machakos som exempel.",
            ],
        ),
        Page(
            heading="4. Ekonomiska ramar",
            blocks=[
                "Budgetriktlinjerna sätter ett tak för hur mycket som kan beviljas i varje "
                "ansökningstyp. För samarbeten i Afrika och Asien är taket högre än för "
                "samarbeten i Europa. Nedan följer några av de belopp som anges.",
                ("h", "Förberedelse"),
                [
                    "Två parter: högst 220 000 kronor i Europa och högst 275 000 kronor i "
                    "Afrika eller Asien.",
                    "Trepartssamarbete: högst 275 000 kronor i Europa och högst 330 000 kronor "
                    "i Afrika eller Asien.",
                ],
                ("h", "Projekt"),
                [
                    "Två parter: upp till 450 000 kronor årligen i Europa, upp till 500 000 "
                    "kronor årligen i Afrika eller Asien.",
                    "Trepartssamarbete: upp till 600 000 kronor årligen i Europa, upp till "
                    "650 000 kronor årligen i Afrika eller Asien.",
                ],
                ("h", "Styrgrupp"),
                [
                    "Två parter: riktvärdet är 300 000 kronor per år, varav 150 000 kronor avser "
                    "arbetsinsatser.",
                ],
                ("h", "Ramar i de tematiska nätverken"),
                "I nätverket för mänskliga rättigheter beviljades kommunerna 300 000 kronor för "
                "förberedelseåret. Över hela perioden på fyra år kan ett partnerskap i nätverket "
                "få närmare tre miljoner kronor. Pengarna täcker kostnaderna för att kommunerna "
                "träffas, som resor och boende när de besöker varandra eller deltar i "
                "nätverksmöten.",
                ("h", "Exempel på beviljade belopp"),
                "Som jämförelse beviljades Region Gotland 2,5 miljoner kronor i maj 2021 för ett "
                "treårigt projekt med Kibaha i Tanzania, och i december 2022 beviljades Piteå "
                "kommun och Strängnäs kommun 2,55 miljoner kronor vardera för sina projekt.",
            ],
        ),
        Page(
            heading="5. Samarbetsländer, nätverk och ansökan",
            blocks=[
                ("h", "Samarbetsländer"),
                "Partnern måste finnas i ett land på programmets lista. Listan har ändrats över "
                "tid, så kontrollera alltid den senaste versionen innan planeringen börjar. I "
                "programmets frågor och svar och på programsidan anges 19 länder:",
                [
                    "Europa: Bosnien och Hercegovina, Georgien, Kosovo, Nordmakedonien, "
                    "Moldavien, Serbien, Turkiet och Ukraina",
                    "Asien: Indonesien, Kina, Vietnam",
                    "Afrika: Botswana, Kenya, Moçambique, Namibia, Sydafrika, Tanzania, Uganda "
                    "och Zambia",
                ],
                "En senare version av listan delar in länderna i fyra regioner: Europa (Bosnien "
                "och Hercegovina, Kosovo, Serbien, Ukraina), Latinamerika (Colombia, "
                "Guatemala), Östafrika (Kenya, Tanzania, Uganda) och södra Afrika (Botswana, "
                "Sydafrika, Zambia, Zimbabwe).",
                ("h", "Tematiska nätverk"),
                "I ett nätverk driver flera partnerskap med likartat tema sina projekt samtidigt. "
                "De får mer stöd från ICLD än andra partnerskap: utbildning, mentorer och "
                "kontakt med forskningen. Hittills har det funnits nätverk för mänskliga "
                "rättigheter (med partner i södra Afrika), för klimatet, för jämställdhet (med "
                "partner i Colombia och Guatemala) och för demokratisk resiliens (framför allt "
                "Ukraina, Kosovo samt Bosnien och Hercegovina).",
                ("h", "När och hur man ansöker"),
                "Projektansökningar lämnas in under två ansökningsomgångar per år: 15 februari "
                "till 15 mars och 15 september till 15 oktober. Förberedelse kan sökas löpande. "
                "Ansökningar lämnas elektroniskt på Mina sidor, som nås via icld.se.",
                ("h", "Kontakt"),
                "Kommuner som är nya i programmet och vill veta mer kan skriva till "
                "partnership@icld.se. ICLD kan ge stöd i sökandet efter en lämplig partner och i "
                "ansökan om en ettårig förberedelse.",
            ],
        ),
    ],
)

# ---------------------------------------------------------------------------
# beslut_december_2022.pdf (3 pages)
# ---------------------------------------------------------------------------

BESLUT_DECEMBER_2022 = Document(
    filename="beslut_december_2022.pdf",
    title="Beslut om kommunala partnerskap – december 2022",
    subtitle=(
        "Sammanställning av de projekt som ICLD beviljade medel i december 2022, "
        "ordnade efter tema."
    ),
    author="Kunskapsbanken om kommunala partnerskap",
    pages=[
        Page(
            heading="Beslutet i sammandrag",
            blocks=[
                "I december 2022 fattade ICLD beslut om nya medel inom programmet Kommunala "
                "partnerskap. Totalt fördelades 32 940 000 kronor, alltså ungefär 33 miljoner "
                "kronor. Av de tolv svenska mottagarna är tio kommuner och två regioner. Varje "
                "mottagare driver sitt projekt ihop med en partner i ett annat land.",
                ("h", "Kommuner som beviljats medel"),
                [
                    "Jönköping",
                    "Karlskrona",
                    "Lycksele",
                    "Norrköping",
                    "Piteå",
                    "Robertsfors",
                    "Strängnäs",
                    "Umeå",
                    "Växjö",
                    "Älmhult",
                ],
                ("h", "Regioner som beviljats medel"),
                ["Region Stockholm", "Region Västerbotten"],
                ("h", "Vad projekten har gemensamt"),
                "Ett kommunalt partnerskap innebär att den svenska kommunen eller regionen och "
                "partnern utomlands tillsammans tar sig an ett problem som finns hos båda. "
                "Omgångens projekt spänner över renare närmiljö, barns och ungas inkludering samt "
                "jämlikhet och jämställdhet. Det som förenar dem är målet att stärka den lokala "
                "demokratin hos samtliga deltagande parter.",
                ("h", "SKR om beslutet"),
                "Lena Langlet är chef för demokratisektionen vid Sveriges Kommuner och Regioner "
                "(SKR). Hon ser positivt på att intresset växer bland svenska kommuner och "
                "regioner för att genom partnerskap stödja den lokala demokratin i andra länder.",
            ],
        ),
        Page(
            heading="Klimat och miljö",
            blocks=[
                "Tre av omgångens projekt handlar om klimatförändringar och miljö: två "
                "partnerskap i Östafrika och ett i Bosnien och Hercegovina.",
                ("h", "Robertsfors kommun och Machakos, Kenya"),
                "Robertsfors beviljas medel för ett klimatprojekt med Machakos i Kenya, med "
                "klimatförändringar som tema. Partnerskapet ingår även i ICLD:s nätverk för "
                "klimatet.",
                ("h", "Karlskrona kommun och Entebbe, Uganda"),
                "Också Karlskrona och Entebbe i Uganda ska arbeta med klimatförändringar. "
                "Tyngdpunkten ligger på att unga människor ska inkluderas i miljöfrågorna.",
                ("h", "Norrköpings kommun och Bihac, Bosnien och Hercegovina"),
                "Norrköpings kommun beviljas 2,25 miljoner kronor för ett samarbete med Bihac. "
                "Målet är en bättre fungerande avfallshantering, vilket i sin tur ska skydda "
                "miljön.",
                ("h", "Övriga mottagare"),
                "Jönköpings kommun och Umeå kommun är också med bland de tolv mottagarna i "
                "december 2022. Deras projekt beskrivs inte närmare i denna sammanställning. ICLD "
                "publicerade en fullständig förteckning över samtliga beviljade projekt och den "
                "totala summan i samband med beslutet.",
            ],
        ),
        Page(
            heading="Hälsa, jämställdhet och sociala frågor",
            blocks=[
                ("h", "Region Stockholm och Jinja, Uganda"),
                "Drygt 7 miljoner kronor beviljas Region Stockholm, fördelat på fyra projekt som "
                "alla handlar om jämlik hälsa. Partnern i Uganda är Jinja City Council. Regionen "
                "samarbetar i projekten med Karolinska Institutet, Pediatric Health Initiative "
                "och Astrid Lindgrens barnsjukhus.",
                ("h", "Homa Bay, Kenya: Lycksele och Region Västerbotten"),
                "Lycksele kommun och Region Västerbotten får var för sig medel för att samarbeta "
                "med Homa Bay County i Kenya. Också dessa insatser hör till temat jämlik hälsa.",
                ("h", "Trepartssamarbete med JB Marks, Sydafrika"),
                "Två svenska kommuner, Älmhult och Växjö, går ihop med JB Marks i Sydafrika i ett "
                "partnerskap med tre parter. Gemensamt ska de arbeta mot könsbaserat våld i sina "
                "respektive kommuner.",
                ("h", "Piteå kommun och Chinsali, Zambia"),
                "Till Piteå kommun går 2,55 miljoner kronor. Tillsammans med Chinsali i Zambia "
                "ska Piteå arbeta för att de marginaliserade grupperna i kommunen får en "
                "starkare ställning.",
                ("h", "Strängnäs kommun och partnerkommun i Tanzania"),
                "Lika mycket, 2,55 miljoner kronor, beviljas Strängnäs kommun. Pengarna avser "
                "ett demokratiprojekt på tre år med inriktning på social hållbarhet, som "
                "genomförs med kommunens partnerkommun i Tanzania.",
            ],
        ),
    ],
)

DOCUMENTS = [PROGRAMBESKRIVNING, BESLUT_DECEMBER_2022]


class CorpusPDF(FPDF):
    """A4 page with a running header line and a page footer."""

    def __init__(self, doc: Document) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc
        # Windows-1252 covers å ä ö é ç, the en dash and typographic quotes;
        # fpdf2 marks the core font /WinAnsiEncoding so text extraction works.
        self.core_fonts_encoding = "windows-1252"
        self.set_margins(20, 22, 20)
        # Pages are broken explicitly; an overflow is detected and reported.
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(doc.title)
        self.set_author(doc.author)
        self.set_lang("sv")
        # Fixed creation date so that regenerating gives byte-identical files.
        self.set_creation_date(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))

    def header(self) -> None:
        if self.page_no() == 1:  # the first page carries the full title instead
            self.set_y(16)
            return
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.set_y(10)
        self.cell(0, 5, self.doc.title, align="L")
        self.ln(8)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        # Not "Sida N": the word would collide with the agency Sida in retrieval.
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"s. {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render(doc: Document, out_dir: Path) -> Path:
    pdf = CorpusPDF(doc)
    pdf.alias_nb_pages()
    for index, page in enumerate(doc.pages, start=1):
        pdf.add_page()
        if index == 1:
            pdf.set_font("Helvetica", "B", 17)
            pdf.multi_cell(0, 8, doc.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
            pdf.set_font("Helvetica", "I", 10)
            pdf.multi_cell(0, 5, doc.subtitle, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(4)
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 7, page.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
        for block in page.blocks:
            if isinstance(block, tuple):
                pdf.ln(1)
                pdf.set_font("Helvetica", "B", 11)
                pdf.multi_cell(0, 6, block[1], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            elif isinstance(block, list):
                pdf.set_font("Helvetica", "", 10.5)
                for item in block:
                    pdf.set_x(pdf.l_margin + 4)
                    pdf.multi_cell(0, 5.2, f"- {item}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(2)
            else:
                pdf.set_font("Helvetica", "", 10.5)
                pdf.multi_cell(0, 5.2, block, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(2)
        if pdf.page_no() != index:
            raise SystemExit(
                f"{doc.filename}: page {index} ('{page.heading}') overflowed onto a new page"
            )
    out = out_dir / doc.filename
    pdf.output(str(out))
    return out


def verify(doc: Document, path: Path) -> None:
    """Re-read the PDF with pypdf: page count and each page's heading must survive."""
    try:
        import pypdf
    except ImportError:  # pragma: no cover - pypdf is a project dependency
        print("  (pypdf not installed; skipping verification)")
        return
    reader = pypdf.PdfReader(str(path))
    if len(reader.pages) != len(doc.pages):
        raise SystemExit(f"{path}: expected {len(doc.pages)} pages, got {len(reader.pages)}")
    for number, (page, pdf_page) in enumerate(zip(doc.pages, reader.pages, strict=True), 1):
        text = pdf_page.extract_text()
        if page.heading not in text:
            raise SystemExit(f"{path} page {number}: heading {page.heading!r} not extracted")
        print(f"  page {number}: {text[:200]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "corpus"
    parser.add_argument("--out", type=Path, default=default_out, help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for doc in DOCUMENTS:
        path = render(doc, args.out)
        print(f"wrote {path} ({len(doc.pages)} pages)")
        verify(doc, path)


if __name__ == "__main__":
    main()
