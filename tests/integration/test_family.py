#!/usr/bin/env python3
"""Families: a mother's case opened at one post, her two children's cases at
another, both shared across the two posts.  Only the children record links
(child -> parent, and a sibling link between them), yet `case --family` at
either post shows all three with status and facility; a link to a case held
by a third post that is not shared shows as not shared; `list --separated`
shows the family while any member is not reunited, and stops once all are."""

import json

from vjfed import Checks, Federation, wait_until

t = Checks("family")


def members(post, case_id):
    """The family array of `case ID --family --json`, by case id."""
    rc, out, err = post.valija("--json", "case", case_id, "--family")
    assert rc == 0, "case --family at %s: exit %d: %s" % (post.name, rc, err)
    return {m["case"]: m for m in json.loads(out)["family"]}


def separated(post):
    return post.json("list", "--separated")


with Federation(["mx-a", "sv-b", "gt-c"]) as fed:
    fed.start_all()
    a, b, c = fed["mx-a"], fed["sv-b"], fed["gt-c"]

    a.submit("--case", "MX-M", "--status", "detained", "--facility", "Port Isabel",
             "--share", "sv-b", "--name", "Ana Lopez")
    b.submit("--case", "SV-C1", "--status", "in custody", "--facility", "Dilley",
             "--share", "mx-a", "--name", "Luis Lopez", "--minor", "yes",
             "--link", "parent:MX-M")
    b.submit("--case", "SV-C2", "--status", "in custody", "--facility", "Karnes",
             "--share", "mx-a", "--name", "Eva Lopez", "--minor", "yes",
             "--link", "parent:MX-M", "--link", "sibling:SV-C1")
    # a case opened at gt-c and shared with neither, which SV-C2 links to
    c.submit("--case", "GT-X", "--status", "detained", "--share", "gt-c")
    b.submit("--case", "SV-C2", "--kind", "link", "--link", "sibling:GT-X")

    wait_until(lambda: b.case("MX-M") is not None, what="MX-M at sv-b")
    wait_until(lambda: (a.case("SV-C2") or {}).get("events") == 2
               and a.case("SV-C1") is not None, what="both children at mx-a")
    t.check(a.case("GT-X") is None and b.case("GT-X") is None,
            "GT-X is held by neither mx-a nor sv-b")
    t.check(not any(link["case"] == "SV-C1" for link in a.case("MX-M")["links"]),
            "the mother's case records no link of its own")

    for post in (a, b):
        fam = members(post, "MX-M")
        t.check(sorted(fam) == ["GT-X", "SV-C1", "SV-C2"],
                "%s: the mother's family holds both children and GT-X" % post.name)
        t.check(fam["SV-C1"]["relation"] == "child" and fam["SV-C2"]["relation"] == "child",
                "%s: both children are the mother's children, though only they linked"
                % post.name)
        t.check(fam["SV-C1"]["status"] == "in custody" and fam["SV-C1"]["facility"] == "Dilley"
                and fam["SV-C2"]["facility"] == "Karnes" and fam["SV-C2"]["held"] is True,
                "%s: each child's status and facility" % post.name)
        t.check(fam["SV-C1"]["owner"] == "sv-b" and fam["SV-C2"]["name"] == "Eva Lopez",
                "%s: owner and name of each child" % post.name)
        t.check(fam["GT-X"] == {"case": "GT-X", "relation": "family", "status": None,
                                "facility": None, "owner": None, "name": None, "held": False},
                "%s: GT-X is shown as not shared, with nothing guessed" % post.name)

        fam = members(post, "SV-C1")
        t.check(fam["MX-M"]["relation"] == "parent" and fam["MX-M"]["facility"] == "Port Isabel"
                and fam["MX-M"]["status"] == "detained" and fam["MX-M"]["name"] == "Ana Lopez",
                "%s: from the first child, the mother is its parent, at Port Isabel" % post.name)
        t.check(fam["SV-C2"]["relation"] == "sibling",
                "%s: the sibling link recorded by the second child is seen from the first"
                % post.name)

        fam = members(post, "SV-C2")
        t.check(fam["GT-X"]["relation"] == "sibling" and fam["GT-X"]["held"] is False,
                "%s: the second child's own link to GT-X, not shared" % post.name)

        rc, out, err = post.valija("case", "SV-C2", "--family")
        t.check(rc == 0 and "not shared with this post" in out and "Port Isabel" in out
                and "Dilley" in out, "%s: the text form shows who is where" % post.name)

    # separated while any member is not reunited
    for post in (a, b):
        fams = separated(post)
        t.check(len(fams) == 1, "%s: one separated family" % post.name)
        got = {m["case"]: m for m in fams[0]["family"]}
        t.check(sorted(got) == ["GT-X", "MX-M", "SV-C1", "SV-C2"]
                and fams[0]["family"][0]["relation"] == "self"
                and got["MX-M"]["facility"] == "Port Isabel" and got["GT-X"]["held"] is False,
                "%s: the family listed once, every member with where it is" % post.name)
        rc, out, err = post.valija("list", "--separated")
        t.check(rc == 0 and "family of" in out and "Karnes" in out,
                "%s: the text form of list --separated" % post.name)

    a.submit("--case", "MX-M", "--status", "reunited", "--facility", "Houston")
    b.submit("--case", "SV-C1", "--status", "reunited", "--facility", "Houston")
    wait_until(lambda: a.case("SV-C1")["status"] == "reunited"
               and b.case("MX-M")["status"] == "reunited", what="two reunited at both posts")
    for post in (a, b):
        fams = separated(post)
        t.check(len(fams) == 1 and fams[0]["family"][0]["case"] == "SV-C2",
                "%s: still separated while SV-C2 is not reunited, and led by it" % post.name)

    b.submit("--case", "SV-C2", "--status", "reunited", "--facility", "Houston")
    wait_until(lambda: a.case("SV-C2")["status"] == "reunited", what="SV-C2 reunited at mx-a")
    for post in (a, b):
        t.check(separated(post) == [],
                "%s: no longer separated once all held members are reunited" % post.name)
        rc, out, err = post.valija("list", "--separated")
        t.check(rc == 0 and "no separated families" in out,
                "%s: the text form says there is none" % post.name)

    # the family itself is unchanged: reunion does not unlink anyone
    t.check(sorted(members(a, "MX-M")) == ["GT-X", "SV-C1", "SV-C2"],
            "the family still holds every member after reunion")
t.done()
