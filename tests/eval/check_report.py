# Reads what write_report wrote with Python's own parsers: results.json and the SVG (XML).
import json
import sys
import xml.etree.ElementTree as ET

d = sys.argv[1]
assert abs(json.load(open(d + "/results.json"))["accuracy"] - 2 / 3) < 1e-12
root = ET.parse(d + "/confusion.svg").getroot()
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
assert "B <cell>" in texts and "T & NK" in texts, texts
print("ok")
