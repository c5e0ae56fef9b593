"""What plays the scenario files (``scenarios/README.md``; the cases themselves are the
package ``agentcomm_conformance.scenarios``): ``items`` makes each case a pytest item,
``format`` reads and checks a case, ``play`` runs one on a fresh hub with its agent
processes (``fleet``) and steps (``steps``), ``checks`` judges its expectations, and
``behave`` is what the agents run."""
