/** The dashboard page: projects, their builds, a build's steps and its live log. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kiln</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{background:#3b2417;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}main{display:grid;grid-template-columns:260px 1fr;gap:16px;padding:16px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
a{color:#8a3b12;cursor:pointer}ul{list-style:none;padding:0;margin:0}li{padding:4px 0}
.st{display:inline-block;min-width:80px;font-weight:600}.succeeded{color:#207a2c}.failed,.timed_out{color:#b3261e}
.running,.assigned{color:#b26a00}.queued{color:#555}.cancelled{color:#777}
pre{background:#1e1e1e;color:#ddd;padding:10px;border-radius:4px;max-height:60vh;overflow:auto;white-space:pre-wrap}
.stderr{color:#f28b82}.system{color:#8ab4f8}
</style></head><body>
<header><h1>Kiln</h1><span id="pool"></span><span style="flex:1"></span>
<label>token <input id="token" size="18"></label></header>
<main><section><h3>Projects</h3><ul id="projects"></ul></section>
<section><div id="detail">Select a project.</div></section></main>
<script>
const $=s=>document.querySelector(s);const tok=$('#token');tok.value=localStorage.kilnToken||'kiln-dev-token';
tok.onchange=()=>{localStorage.kilnToken=tok.value;load()};
const api=p=>fetch(p,{headers:{authorization:'Bearer '+tok.value}}).then(r=>r.json());
const esc=s=>String(s??'').replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
async function load(){const p=await api('/api/projects');$('#projects').innerHTML=(p.items||[]).map(x=>
 '<li><a data-p="'+x.id+'">'+esc(x.name)+'</a></li>').join('');
 const pool=await api('/api/pool');$('#pool').textContent='pool: '+JSON.stringify(pool.counts||{});}
document.addEventListener('click',e=>{const p=e.target.dataset.p,b=e.target.dataset.b;if(p)showProject(p);if(b)showBuild(b)});
async function showProject(id){const b=await api('/api/projects/'+id+'/builds');$('#detail').innerHTML='<h3>Builds</h3><ul>'+
 (b.items||[]).map(x=>'<li><span class="st '+x.status+'">'+x.status+'</span> <a data-b="'+x.id+'">'+esc(x.source.branch||x.source.ref)+
 ' '+esc((x.source.sha||'').slice(0,8))+'</a> '+esc(x.source.message||'')+'</li>').join('')+'</ul>';}
let es;async function showBuild(id){const b=await api('/api/builds/'+id);$('#detail').innerHTML='<h3>Build '+id+
 ' <span class="st '+b.status+'" id="bst">'+b.status+'</span></h3><ul>'+b.steps.map(s=>'<li>'+esc(s.name)+': <span class="st '+s.status+'">'+
 s.status+'</span> '+(s.exitCode??'')+'</li>').join('')+'</ul><pre id="log"></pre>';
 if(es)es.close();es=new EventSource('/api/builds/'+id+'/logs/stream?access_token='+encodeURIComponent(tok.value));
 es.addEventListener('line',ev=>{const l=JSON.parse(ev.data);const pre=$('#log');const d=document.createElement('div');
 d.className=l.stream;d.textContent=l.text;pre.appendChild(d);pre.scrollTop=pre.scrollHeight});
 es.addEventListener('end',ev=>{es.close();const s=JSON.parse(ev.data).status;$('#bst').textContent=s;$('#bst').className='st '+s});}
load();
</script></body></html>`;
