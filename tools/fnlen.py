import re,sys,pathlib
res=[]
for p in pathlib.Path(sys.argv[1]).rglob('*.rs'):
    lines=p.read_text().split('\n')
    i=0
    while i<len(lines):
        l=lines[i]
        m=re.match(r'\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)',l)
        if m:
            depth=0;started=False;j=i
            while j<len(lines):
                s=re.sub(r'"(\\.|[^"\\])*"','""',lines[j])
                s=re.sub(r"'.'","",s)
                s=s.split('//')[0]
                for c in s:
                    if c=='{':depth+=1;started=True
                    elif c=='}':depth-=1
                if started and depth<=0: break
                if not started and s.rstrip().endswith(';'): break
                j+=1
            n=j-i+1
            if n>int(sys.argv[2]): res.append((n,str(p),i+1,m.group(4)))
            i=i+1 if not started else i+1
        i+=1
for r in sorted(res,reverse=True): print(*r)
