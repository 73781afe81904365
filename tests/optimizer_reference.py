#!/usr/bin/env python3
# Scalar transcriptions of the optimizers in the papers cited in plugins/optimizer/*/*.c;
# prints tests/optimizer_cases.inc (run: python3 tests/optimizer_reference.py).
import math
p0=[1.0,-2.0,0.5]
G=[[0.1,-0.2,0.3],[-0.05,0.4,0.0],[0.2,0.1,-0.3]]
def run(name, lr_of_t, **o):
    p=list(p0); n=3
    m=[0.0]*n; v=[0.0]*n
    out=[]
    for t in range(1,4):
        g=G[t-1]; lr=lr_of_t(t-1)
        for i in range(n):
            if name=='sgd':
                wd=o.get('wd',0); p[i]-=lr*(g[i]+wd*p[i])
            elif name=='momentum':
                mu=o['mu']; wd=o.get('wd',0); ge=g[i]+wd*p[i]
                v[i]=mu*v[i]+ge
                p[i]-= lr*(ge+mu*v[i]) if o.get('nesterov') else lr*v[i]
            elif name in('adam','adamw'):
                b1,b2,eps=o.get('b1',.9),o.get('b2',.999),o.get('eps',1e-8)
                m[i]=b1*m[i]+(1-b1)*g[i]; v[i]=b2*v[i]+(1-b2)*g[i]**2
                mh=m[i]/(1-b1**t); vh=v[i]/(1-b2**t)
                upd=mh/(math.sqrt(vh)+eps)
                if name=='adamw': upd+=o['wd']*p[i]
                p[i]-=lr*upd
            elif name=='adamax':
                b1,b2,eps=.9,.999,1e-8
                m[i]=b1*m[i]+(1-b1)*g[i]; v[i]=max(b2*v[i],abs(g[i]))
                p[i]-=lr/(1-b1**t)*m[i]/(v[i]+eps)
            elif name=='adabelief':
                b1,b2,eps=.9,.999,1e-16
                m[i]=b1*m[i]+(1-b1)*g[i]; v[i]=b2*v[i]+(1-b2)*(g[i]-m[i])**2+eps
                mh=m[i]/(1-b1**t); vh=v[i]/(1-b2**t)
                p[i]-=lr*mh/(math.sqrt(vh)+eps)
        out.append(list(p))
    return out
cases=[('sgd','{"weight_decay": 0.01}',lambda t:0.1,dict(wd=0.01)),
('momentum','{"momentum": 0.9}',lambda t:0.1,dict(mu=0.9)),
('momentum','{"momentum": 0.5, "nesterov": true}',lambda t:0.1,dict(mu=0.5,nesterov=1)),
('momentum','{"momentum": 0.9, "weight_decay": 0.1}',lambda t:0.1,dict(mu=0.9,wd=0.1)),
('momentum','{"momentum": 0.5, "nesterov": true, "weight_decay": 0.1}',lambda t:0.1,dict(mu=0.5,nesterov=1,wd=0.1)),
('adam','{}',lambda t:0.1,{}),
('adamw','{"weight_decay": 0.1}',lambda t:0.1,dict(wd=0.1)),
('adamax','{}',lambda t:0.1,{}),
('adabelief','{}',lambda t:0.1,{}),
('adam','{"b1": 0.8, "b2": 0.99, "eps": 1e-3}',lambda t:0.1,dict(b1=.8,b2=.99,eps=1e-3)),
]
for name,opts,lrf,o in cases:
    r=run(name,lrf,**o)
    print('  {"%s", "%s", {' % (name, opts.replace('"','\\"')) + ', '.join('{%s}'%', '.join('%.17g'%x for x in row) for row in r)+'}},')
