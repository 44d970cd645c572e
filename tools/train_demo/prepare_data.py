"""Builds demo_data.npz (train + held-out DNA, uppercase ASCII bytes) from the unpacked packages.

Usage: prepare_data.py UNPACKED_ROOT OUT.npz   (called by fetch_data.sh)

Split (whole genomes held out, plus one human segment; see DATA.md):
  train/bact : Klebsiella pneumoniae NTUH-K2044, MGH 78578, HS11286 (chromosomes + plasmids),
               Mycobacterium tuberculosis H37Rv
  train/human: human chr20 (GRCh37, vt-examples) positions [0, 55 Mb)
  held out   : E. coli 536 (whole genome), K. pneumoniae 1084 (whole genome),
               M. leprae TN (whole genome), phage lambda, human chr20 [56 Mb, 58 Mb),
               human beta-globin locus (chr11, EMBL U01317 from emboss-test) + its CDS/exons.
Every sequence is upper-cased; training contigs are the maximal runs of A/C/G/T (anything else
splits them). Held-out sequences are stored as-is (upper-cased); evaluate.py scores A/C/G/T only.
"""
import gzip
import lzma
import os
import re
import sys

import numpy as np

MIN_CONTIG = 8193  # one training window (8192 tokens) must fit


def read_fasta(path):
    op = gzip.open if path.endswith(".gz") else lzma.open if path.endswith(".xz") else open
    recs, name, buf = [], None, []
    with op(path, "rt") as f:
        for ln in f:
            if ln.startswith(">"):
                if name is not None:
                    recs.append((name, "".join(buf).upper()))
                name, buf = ln[1:].strip(), []
            else:
                buf.append(ln.strip())
    if name is not None:
        recs.append((name, "".join(buf).upper()))
    return recs


def acgt_runs(seq, min_len):
    return [m.group(0) for m in re.finditer(r"[ACGT]+", seq) if len(m.group(0)) >= min_len]


def embl_entry(path, accession):
    """(sequence, feature table lines) of one entry of an EMBL flat file."""
    lines, on = [], False
    for ln in open(path, errors="replace"):
        if ln.startswith("ID   " + accession + ";"):
            on = True
        if on:
            lines.append(ln.rstrip("\n"))
            if ln.startswith("//"):
                break
    i = next(k for k, ln in enumerate(lines) if ln.startswith("SQ"))
    seq = "".join("".join(ln.split()[:-1]) for ln in lines[i + 1:-1]).upper()
    return seq, [ln for ln in lines if ln.startswith("FT")]


def cds_intervals(ft_lines):
    """0-based half-open exon intervals of every CDS join(...) in the feature table, with gene."""
    out, i = [], 0
    while i < len(ft_lines):
        ln = ft_lines[i]
        if ln[5:21].strip() == "CDS":
            loc = ln[21:].strip()
            j = i + 1
            while loc.count("(") > loc.count(")"):
                loc += ft_lines[j][21:].strip()
                j += 1
            gene = ""
            for k in range(j, min(j + 6, len(ft_lines))):
                m = re.search(r'/gene="([^"]+)"', ft_lines[k])
                if m:
                    gene = m.group(1)
                    break
            if "complement" not in loc and "thalassemia" not in gene:  # skip mutant-allele CDS
                for a, b in re.findall(r"(\d+)\.\.(\d+)", loc):
                    out.append((int(a) - 1, int(b), gene))
            i = j
        else:
            i += 1
    return out


def to_u8(s):
    return np.frombuffer(s.encode("ascii"), dtype=np.uint8)


def main(root, out):
    doc = os.path.join(root, "usr/share/doc")
    kleb = os.path.join(doc, "kleborate/examples/data")
    train_bact, heldout = [], {}
    for f in ("NTUH-K2044.fna.xz", "MGH78578.fna.xz", "Klebs_HS11286.fna.xz"):
        for _, s in read_fasta(os.path.join(kleb, f)):
            train_bact += acgt_runs(s, MIN_CONTIG)
    for _, s in read_fasta(os.path.join(root, "kmer/GCF_000195955.2_ASM19595v2_genomic.fna")):
        train_bact += acgt_runs(s, MIN_CONTIG)  # M. tuberculosis H37Rv
    chr20 = read_fasta(os.path.join(doc, "vt/examples/ref/20.fa.gz"))[0][1]
    train_human = acgt_runs(chr20[:55_000_000], MIN_CONTIG)
    heldout["ecoli536"] = read_fasta(os.path.join(doc, "bowtie/examples/genomes/NC_008253.fna.gz"))[0][1]
    heldout["kpn1084"] = read_fasta(os.path.join(kleb, "Klebs_Kp1084.fna.xz"))[0][1]
    heldout["mleprae"] = read_fasta(os.path.join(root, "kmer/GCF_000195855.1_ASM19585v1_genomic.fna"))[0][1]
    heldout["lambda"] = read_fasta(os.path.join(doc, "bowtie2/examples/reference/lambda_virus.fa.gz"))[0][1]
    heldout["chr20_56M_58M"] = chr20[56_000_000:58_000_000]
    hbb, ft = embl_entry(os.path.join(root, "usr/share/EMBOSS/test/embl/hum1.dat"), "U01317")
    heldout["hbb_locus"] = hbb
    cds = cds_intervals(ft)
    arrays = {}
    for name, contigs in (("train_bact", train_bact), ("train_human", train_human)):
        arrays[name] = to_u8("".join(contigs))
        arrays[name + "_lens"] = np.array([len(c) for c in contigs], dtype=np.int64)
        print(f"{name}: {len(contigs)} contigs, {arrays[name].size:,} bases")
    for name, s in heldout.items():
        arrays["heldout_" + name] = to_u8(s)
        print(f"heldout {name}: {len(s):,} bases")
    arrays["hbb_cds"] = np.array([(a, b) for a, b, _ in cds], dtype=np.int64)
    arrays["hbb_cds_gene"] = np.array([g for _, _, g in cds])
    print("hbb CDS exons:", [(a, b, g) for a, b, g in cds])
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
