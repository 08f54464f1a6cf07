"""Streamlit entry point (placeholder until the full app): one trajectory plot."""
import streamlit as st

from dynamics import Setup, loss_rises, make_hyper, rollout
from toys import TOYS, get_toy
from viz.contour import contour_figure

st.set_page_config(page_title="Cautious dynamics", layout="wide")
st.title("Optimization dynamics: GDM vs cautious GDM")

toy = get_toy(st.sidebar.selectbox("Toy", list(TOYS), index=list(TOYS).index("quad-repo")))
lr = st.sidebar.number_input("Step size eps", 1e-5, 10.0, 0.01, format="%.4f")
beta = st.sidebar.slider("Momentum beta (undampened: s = beta s + g)", 0.0, 0.999, 0.99)
steps = st.sidebar.slider("Steps", 10, 2000, 1000)


@st.cache_data(max_entries=64)
def run(toy_name: str, cautious: bool, lr: float, beta: float, steps: int):
    traj = rollout(Setup("gdm", cautious=cautious), get_toy(toy_name), make_hyper(lr=lr, beta=beta), steps)
    return traj.w, traj.loss


paths = {}
for cautious in (False, True):
    w, loss = run(toy.name, cautious, lr, beta, steps)
    label = "C-GDM" if cautious else "GDM"
    paths[label] = w
    st.sidebar.write(f"{label}: final loss {loss[-1]:.3g}, loss rose at {len(loss_rises(loss)[0])} steps")
st.plotly_chart(contour_figure(toy, toy.params(), paths), use_container_width=True)
